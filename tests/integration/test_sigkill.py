"""SIGKILL on a real `switchyard serve` process mid-traffic: no settled charge loses its row.

Settlement and its usage row are one transaction, so whatever instant the process dies
at, Postgres holds either both or neither.
"""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.agent.simulated import SimulatedConfig

from .test_sigterm import ADMIN, PRICE, _run_agent, _start_serve, provision


def _settled_without_usage(pg_url: str, schema: str) -> tuple[int, list[str], list[str]]:
    """(settled holds, those without exactly one matching usage row, rows of no hold)."""

    async def query() -> tuple[int, list[str], list[str]]:
        conn = await asyncpg.connect(pg_url, server_settings={"search_path": schema})
        try:
            settled = await conn.fetchval("SELECT count(*) FROM holds WHERE status = 'settled'")
            missing = await conn.fetch(
                "SELECT h.request_id FROM holds h WHERE h.status = 'settled' AND "
                "(SELECT count(*) FROM usage_records u WHERE u.request_id = h.request_id "
                " AND u.cost_micro_usd = h.charged_micro_usd) <> 1"
            )
            orphans = await conn.fetch(
                "SELECT u.request_id FROM usage_records u LEFT JOIN holds h "
                "USING (request_id) WHERE h.status IS DISTINCT FROM 'settled' "
                "AND u.cost_micro_usd > 0"
            )
        finally:
            await conn.close()
        return settled, [r[0] for r in missing], [r[0] for r in orphans]

    return asyncio.run(query())


@pytest.mark.postgres
async def test_sigkill_mid_traffic_leaves_every_settled_charge_with_its_usage_row(
    pg_url: str, pg_schema: str
) -> None:
    process, base_url = await _start_serve(pg_url, pg_schema)
    admin = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN}"})
    settled_seen = trio.Event()
    try:
        token, key, _ = await provision(admin, 100_000_000, PRICE)
        sim = SimulatedConfig(ttft_s=0.0, tokens_per_s=2000.0, output_tokens=5)
        agent = ProviderAgent(
            AgentConfig(
                coordinator=base_url, token=token, models=("sim-small",), slots=16,
                simulated=sim, reconnect_base_s=0.1, max_reconnects=1,
            ),
            key=Ed25519PrivateKey.generate(),
        )  # fmt: skip
        completed = 0

        async def client() -> None:
            nonlocal completed
            body = {"model": "sim-small", "max_tokens": 8,
                    "messages": [{"role": "user", "content": "go"}]}  # fmt: skip
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as c:
                while True:
                    try:
                        response = await c.post("/v1/chat/completions", json=body, headers=headers)
                    except httpx.TransportError:
                        return  # the coordinator died
                    if response.status_code == 200:
                        completed += 1
                        if completed >= 40:
                            settled_seen.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(_run_agent, agent)
            with trio.fail_after(10):
                await agent.wait_online()
                while not (await admin.get("/admin/providers")).json()["providers"][0]["routable"]:
                    await trio.sleep(0.05)
            for _ in range(12):
                nursery.start_soon(client)
            with trio.fail_after(30):
                await settled_seen.wait()
            process.kill()  # SIGKILL: no handler, no flush, no goodbye
            await process.wait()
            nursery.cancel_scope.cancel()
        assert process.returncode == -signal.SIGKILL
    finally:
        await admin.aclose()
        if process.returncode is None:
            process.kill()
            await process.wait()
    settled, missing, orphans = await trio.to_thread.run_sync(
        _settled_without_usage, pg_url, pg_schema
    )
    assert missing == []
    assert orphans == []
    assert settled > 0  # settlement trails the responses; some were surely in flight
