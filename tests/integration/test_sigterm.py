"""SIGTERM on a real `switchyard serve` process: running streams finish, no hold stays open."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.agent.simulated import SimulatedConfig, simulated_text
from switchyard.storage import open_store

from ..polling import wait_until

ADMIN = "sigterm-admin-key"


async def _start_serve(pg_url: str, schema: str) -> tuple[trio.Process, str]:
    env = {
        **os.environ,
        "SWITCHYARD_DATABASE_URL": pg_url,
        "SWITCHYARD_DATABASE_SCHEMA": schema,
        "SWITCHYARD_ADMIN_KEY": ADMIN,
    }
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "switchyard.cli", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    seen = b""
    with trio.fail_after(30):
        while (match := re.search(rb"listening on (http://\S+)", seen)) is None:
            chunk = await process.stderr.receive_some()
            if not chunk:
                raise AssertionError(f"serve exited early: {seen.decode()}")
            seen += chunk
    return process, match.group(1).decode()


PRICE = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 1_000_000}


async def provision(admin: httpx.AsyncClient, credit: int, price: dict) -> tuple[str, str, str]:
    """Over the admin API of a running `serve`: a provider token and a consumer key with
    `credit` micro-USD, `sim-small` priced at `price`; returns (token, key, account id)."""
    owner = (await admin.post("/admin/accounts", json={"name": "owner"})).json()
    token = (await admin.post("/admin/provider-tokens", json={"account_id": owner["id"]})).json()[
        "token"
    ]
    consumer = (await admin.post("/admin/accounts", json={"name": "c"})).json()
    body = {"amount_micro_usd": credit, "reason": "test"}
    await admin.post(f"/admin/accounts/{consumer['id']}/credit", json=body)
    await admin.put("/admin/pricing/sim-small", json=price)
    key = (await admin.post(f"/admin/accounts/{consumer['id']}/keys", json={})).json()["key"]
    return token, key, consumer["id"]


@pytest.mark.postgres
async def test_sigterm_lets_streams_finish_and_leaves_no_open_holds(
    pg_url: str, pg_schema: str
) -> None:
    process, base_url = await _start_serve(pg_url, pg_schema)
    admin = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN}"})
    try:
        token, key, account_id = await provision(admin, 10_000_000, PRICE)
        sim = SimulatedConfig(ttft_s=0.0, tokens_per_s=20.0, output_tokens=30)  # ~1.5 s
        agent = ProviderAgent(
            AgentConfig(
                coordinator=base_url, token=token, models=("sim-small",), slots=8,
                simulated=sim, reconnect_base_s=0.1, max_reconnects=1,
            ),
            key=Ed25519PrivateKey.generate(),
        )  # fmt: skip
        texts: list[str] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_run_agent, agent)
            with trio.fail_after(10):
                await agent.wait_online()

            async def routable() -> bool:
                return (await admin.get("/admin/providers")).json()["providers"][0]["routable"]

            await wait_until(routable, timeout=10)

            async def stream() -> None:
                body = {"model": "sim-small", "stream": True,
                        "messages": [{"role": "user", "content": "go"}]}  # fmt: skip
                headers = {"Authorization": f"Bearer {key}"}
                async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
                    async with c.stream(
                        "POST", "/v1/chat/completions", json=body, headers=headers
                    ) as r:
                        lines = [line async for line in r.aiter_lines() if line]
                assert lines[-1] == "data: [DONE]"
                texts.append("".join(_contents(lines)))

            async def all_in_flight() -> bool:
                providers = (await admin.get("/admin/providers")).json()["providers"]
                return sum(p["inflight"] for p in providers) == 4

            async with trio.open_nursery() as streams:
                for _ in range(4):
                    streams.start_soon(stream)
                await wait_until(all_in_flight, timeout=10)  # streams are mid-flight
                process.send_signal(signal.SIGTERM)
                with trio.fail_after(10):  # new work is refused while draining
                    async with httpx.AsyncClient(base_url=base_url) as c:
                        r = await c.post(
                            "/v1/chat/completions",
                            json={"model": "sim-small", "messages": [{"role": "user",
                                                                      "content": "late"}]},
                            headers={"Authorization": f"Bearer {key}"},
                        )  # fmt: skip
                        assert r.status_code == 503
            nursery.cancel_scope.cancel()
        assert texts == [simulated_text(30)] * 4
        with trio.fail_after(30):
            code = await process.wait()
        assert code == 0
    finally:
        await admin.aclose()
        if process.returncode is None:
            process.kill()
            await process.wait()
    async with open_store(pg_url, schema=pg_schema) as store:
        assert await store.list_open_holds() == []
        assert await store.ledger_mismatches() == []
        account = await store.get_account(account_id)
        assert account is not None and account.balance_micro_usd < 10_000_000


async def _run_agent(agent: ProviderAgent) -> None:
    try:
        await agent.run()
    except Exception:  # the coordinator went away for good: expected at the end
        return


def _contents(lines: list[str]) -> list[str]:
    import json

    out = []
    for line in lines:
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                out.append(choice.get("delta", {}).get("content") or "")
    return out
