"""The newcomer's whole path over real HTTP, both stores, no admin call after the invite
code: sign up, create a key, buy credit through the fake Stripe (stripe-python inside the
coordinator, a signed webhook back), link a real provider agent with
`switchyard provider login` (a subprocess, approved with the session + CSRF token), run
it from the saved token file, call the API with the openai SDK, and see usage, earnings,
the node and the public stats."""

from __future__ import annotations

import json
import stat
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import openai
import trio

from switchyard.storage import open_store

from ..billing.fake_stripe import running_fake_stripe
from ..billing.helpers import WEBHOOK_SECRET, event_payload, stripe_signature
from ..polling import wait_until
from .harness import coordinator
from .selfservice_helpers import (
    CLI,
    PASSWORD,
    PRICE,
    USER_CODE,
    agent_from_token_file,
    invite,
    plain_http_settings,
    read_until,
)


async def link_provider(base_url: str, session: httpx.AsyncClient, token_file: Path) -> str:
    """Run `switchyard provider login` and approve its code with the session; the output."""
    command = [*CLI, "provider", "login", "--coordinator", base_url, "--name", "gpu-box-1",
               "--token-file", str(token_file)]  # fmt: skip
    async with trio.open_nursery() as nursery:
        proc = await nursery.start(
            partial(trio.run_process, command, check=False, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
        )  # fmt: skip
        user_code = (await read_until(proc.stderr, USER_CODE)).decode()
        pending = await session.get("/v1/device/pending", params={"user_code": user_code})
        assert pending.status_code == 200 and pending.json()["name"] == "gpu-box-1"
        approved = await session.post("/v1/device/approve", json={"user_code": user_code})
        assert approved.status_code == 200, approved.text
        rest = b""
        with trio.fail_after(60):
            while chunk := await proc.stderr.receive_some(4096):
                rest += chunk
            assert await proc.wait() == 0, rest
    return rest.decode()


async def test_newcomer_from_invite_code_to_serving_provider(
    store_target: tuple[str | None, str | None], tmp_path: Path
) -> None:
    url, schema = store_target
    async with running_fake_stripe() as fake, open_store(url, schema=schema) as store:
        settings = plain_http_settings().with_overrides(
            stripe_secret_key=fake.secret_key,
            stripe_api_base=fake.base_url,
            stripe_webhook_secret=WEBHOOK_SECRET,
        )
        async with coordinator(settings, store) as running:
            # The operator's part: a price and one invite code. Nothing else below is admin.
            await running.admin.put("/admin/pricing/sim-small", json=PRICE)
            code = await invite(running)
            base = running.base_url
            async with httpx.AsyncClient(base_url=base, timeout=15) as web:
                signup = await web.post(
                    "/v1/signup",
                    json={"invite_code": code, "login": "newcomer", "password": PASSWORD},
                )
                assert signup.status_code == 201, signup.text
                account_id = signup.json()["account"]["id"]
                web.headers["X-CSRF-Token"] = signup.json()["csrf_token"]

                created = await web.post("/v1/account/keys", json={"name": "laptop"})
                assert created.status_code == 201, created.text
                api_key = created.json()["key"]
                assert api_key.startswith("sk-sy-")
                listed = (await web.get("/v1/account/keys")).json()["keys"]
                assert [k["name"] for k in listed] == ["laptop"] and "key" not in listed[0]

                # Buy $20 of credit: Checkout through stripe-python, then Stripe's webhook.
                checkout = await web.post("/v1/account/checkout", json={"amount_usd": 20})
                assert checkout.status_code == 200, checkout.text
                session = fake.complete_session(checkout.json()["id"])
                assert session["client_reference_id"] == account_id
                _, payload = event_payload(session)
                hook = await web.post(
                    "/v1/billing/webhook",
                    content=payload,
                    headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)},
                )
                assert hook.status_code == 200 and hook.json()["outcome"] == "credited"
                overview = (await web.get("/v1/account/overview")).json()
                assert overview["balance_micro_usd"] == 20_000_000
                assert overview["open_holds"] == 0 and overview["holds"] == []

                # Link a provider agent by device code, then run it from the token file.
                token_file = tmp_path / "cfg" / "provider_token"
                said = await link_provider(base, web, token_file)
                assert "Linked to account " + account_id in said
                assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
                assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
                assert token_file.read_text().startswith("pt-sy-")
                tokens = (await web.get("/v1/account/provider-tokens")).json()
                assert [t["name"] for t in tokens["provider_tokens"]] == ["gpu-box-1"]

                async with agent_from_token_file(base, token_file, tmp_path / "key"):
                    await _serve_and_report(web, base, api_key, account_id)


async def _serve_and_report(
    web: httpx.AsyncClient, base: str, api_key: str, account_id: str
) -> None:
    async def node_online() -> dict[str, Any] | None:
        nodes = (await web.get("/v1/account/nodes")).json()["nodes"]
        return nodes[0] if nodes and nodes[0]["routable"] else None

    node = await wait_until(node_online, timeout=30)
    assert node["status"] == "online" and node["connected"] is True
    assert node["models"][0]["id"] == "sim-small" and node["leaderboard"] is False

    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key=api_key, max_retries=0) as sdk:
        for _ in range(2):
            reply = await sdk.chat.completions.create(
                model="sim-small", messages=[{"role": "user", "content": "hello there"}]
            )
            assert reply.choices[0].message.content

    async def reported() -> dict[str, Any] | None:
        usage = (await web.get("/v1/account/usage", params={"days": 1})).json()
        return usage if usage["total"]["requests"] == 2 else None

    usage = await wait_until(reported, timeout=15)
    [day] = usage["days"]
    assert day["model"] == "sim-small" and day["requests"] == 2 and day["cost_micro_usd"] > 0
    overview = (await web.get("/v1/account/overview")).json()
    assert overview["balance_micro_usd"] == 20_000_000 - usage["total"]["cost_micro_usd"]

    earnings = (await web.get("/v1/account/earnings", params={"days": 7})).json()
    assert earnings["by_node"][node["id"]]["requests"] == 2
    assert 0 < earnings["total_earnings_micro_usd"] < usage["total"]["cost_micro_usd"]
    nodes = (await web.get("/v1/account/nodes")).json()["nodes"]
    assert nodes[0]["served_tokens"] > 0 and nodes[0]["errors"] == 0

    stats = (await web.get("/v1/stats")).json()
    assert stats["providers_online"] == 1 and stats["models_online"] == ["sim-small"]
    assert stats["tokens_served_today"] == nodes[0]["served_tokens"]
    assert stats["leaderboard"]["providers"] == []  # not opted in
    listed = await web.put(f"/v1/account/nodes/{node['id']}/leaderboard", json={"listed": True})
    assert listed.status_code == 200
    async with httpx.AsyncClient(base_url=base) as anonymous:

        async def on_board() -> list[Any] | None:
            board = (await anonymous.get("/v1/stats")).json()["leaderboard"]["providers"]
            return board or None  # the answer is cached a few seconds

        board = await wait_until(on_board, timeout=15)
    assert board == [
        {"rank": 1, "provider_id": node["id"], "tokens_served": nodes[0]["served_tokens"]}
    ]
    assert json.dumps(board).find(account_id) == -1  # no account ids in public
