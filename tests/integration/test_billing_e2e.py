"""Money end to end: exact charges, provider earnings, 402 before dispatch, chaos, both stores."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import openai
import pytest
import trio

from switchyard.actors.provider_messages import Disconnect
from switchyard.agent.simulated import SimulatedConfig
from switchyard.storage import open_store

from ..polling import wait_until
from .harness import (
    agents,
    coordinator,
    fast_settings,
    funded_key,
    online_provider,
    scheduler_stats,
)

PRICE = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 2_000_000}
SIM = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=10)
MESSAGES = [{"role": "user", "content": "count for me please"}]


@asynccontextmanager
async def store_for(target: tuple[str | None, str | None]) -> AsyncIterator[Any]:
    url, schema = target
    async with open_store(url, schema=schema) as store:
        yield store


async def _account(running, account_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return (await running.admin.get(f"/admin/accounts/{account_id}")).json()


async def test_charged_exactly_and_provider_earns_price_minus_fee(
    store_target: tuple[str | None, str | None],
) -> None:
    async with store_for(store_target) as store:
        async with coordinator(fast_settings(), store) as running:
            await running.admin.put("/admin/pricing/sim-small", json=PRICE)
            async with agents(running, 1, SIM) as fleet:
                account_id, key = await funded_key(running, 1_000_000)
                client = openai.AsyncOpenAI(
                    base_url=running.base_url + "/v1", api_key=key, max_retries=0
                )
                expected_total = 0
                for stream in (False, True):
                    if stream:
                        chunks = await client.chat.completions.create(
                            model="sim-small", messages=MESSAGES, stream=True,
                            stream_options={"include_usage": True},
                        )  # fmt: skip
                        usage = None
                        async for chunk in chunks:
                            usage = chunk.usage or usage
                    else:
                        reply = await client.chat.completions.create(
                            model="sim-small", messages=MESSAGES
                        )
                        usage = reply.usage
                    assert usage is not None
                    expected_total += usage.prompt_tokens * 1 + usage.completion_tokens * 2

                async def settled() -> dict[str, Any] | None:
                    acct = await _account(running, account_id)
                    return acct if acct["open_holds"] == 0 else None

                acct = await wait_until(settled)
                assert acct["balance_micro_usd"] == 1_000_000 - expected_total
                owner = await _account(running, fleet.owner_id)
                # Earnings are settled per request, each rounded down after the 10 % fee.
                assert (
                    expected_total * 0.9 - 2 <= owner["earnings_micro_usd"] <= expected_total * 0.9
                )
                assert await store.ledger_mismatches() == []

                async def usage_written() -> dict[str, Any] | None:
                    async with httpx.AsyncClient(base_url=running.base_url) as http:
                        me = await http.get(
                            "/v1/account", headers={"Authorization": f"Bearer {key}"}
                        )
                    body = me.json()
                    return body if len(body["usage"]) == 2 else None  # group commit lands

                body = await wait_until(usage_written)
                assert body["balance_micro_usd"] == acct["balance_micro_usd"]
                assert body["open_holds"] == 0
                assert sum(u["cost_micro_usd"] for u in body["usage"]) == expected_total
                assert {u["outcome"] for u in body["usage"]} == {"ok"}
                await client.close()


async def test_unfunded_account_gets_402_before_any_provider_is_touched() -> None:
    async with coordinator() as running:
        await running.admin.put("/admin/pricing/m1", json=PRICE)
        _, token = await running.provider_token()
        _, key = await funded_key(running, 10)  # 10 micro-USD: far below any hold
        async with online_provider(running, token) as p:
            client = openai.AsyncOpenAI(
                base_url=running.base_url + "/v1", api_key=key, max_retries=0
            )
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(model="m1", messages=MESSAGES)
            assert caught.value.status_code == 402
            assert caught.value.code == "insufficient_quota"
            stats = await scheduler_stats(running)
            assert stats["counters"].get("granted", 0) == 0
            with trio.move_on_after(0.3):
                frame = await p.recv_type("inference_request")
                pytest.fail(f"provider was sent work: {frame}")
            await client.close()


async def test_disconnect_mid_stream_charges_relayed_tokens_only() -> None:
    async with coordinator() as running:
        await running.admin.put("/admin/pricing/m1", json=PRICE)
        _, token = await running.provider_token()
        account_id, key = await funded_key(running, 1_000_000)
        async with online_provider(running, token) as p:
            headers = {"Authorization": f"Bearer {key}"}
            body = {"model": "m1", "messages": MESSAGES, "stream": True, "max_tokens": 100}
            got = trio.Event()

            async def consumer() -> None:
                async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
                    async with c.stream("POST", "/v1/chat/completions", json=body) as response:
                        async for line in response.aiter_lines():
                            if "t3" in line:
                                got.set()
                                return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consumer)
                rid = (await p.recv_type("inference_request"))["request_id"]
                deltas = [{"content": f"t{i}"} for i in range(1, 4)]
                await p.send({"type": "chunk", "request_id": rid, "deltas": deltas})
                await got.wait()
            await p.recv_type("cancel")

            async def settled() -> dict[str, Any] | None:
                acct = await _account(running, account_id)
                return acct if acct["open_holds"] == 0 else None

            acct = await wait_until(settled)
            charged = 1_000_000 - acct["balance_micro_usd"]
            # The estimated prompt (at 1 µ$/token) plus 3 relayed tokens at 2 µ$ each.
            prompt_est = charged - 3 * 2
            assert 0 < prompt_est < 100
            assert await running.coord.store.ledger_mismatches() == []


async def test_chaos_no_open_holds_ledger_balanced_no_overdraft(
    store_target: tuple[str | None, str | None],
) -> None:
    sim = SimulatedConfig(ttft_s=0.01, tokens_per_s=300.0, output_tokens=15)
    async with store_for(store_target) as store:
        async with coordinator(fast_settings(), store) as running:
            await running.admin.put("/admin/pricing/sim-small", json=PRICE)
            async with agents(running, 3, sim, slots=50):
                # Two accounts share the load; one can only afford a few requests.
                rich_id, rich = await funded_key(running, 10_000_000)
                poor_id, poor = await funded_key(running, 60_000)
                rng = random.Random(3)
                done = trio.Event()

                async def one(key: str) -> None:
                    client = openai.AsyncOpenAI(
                        base_url=running.base_url + "/v1", api_key=key, max_retries=0, timeout=30
                    )
                    try:
                        stream = await client.chat.completions.create(
                            model="sim-small", messages=MESSAGES, stream=True, max_tokens=20
                        )
                        async for _ in stream:
                            pass
                    except openai.APIError:
                        pass
                    finally:
                        await client.close()

                async def chaos() -> None:
                    while not done.is_set():
                        await trio.sleep(0.04)
                        providers = await running.providers()
                        if providers:
                            victim = rng.choice(providers)["id"]
                            try:
                                ref = running.coord.system.lookup(f"/root/providers/{victim}")
                            except LookupError:
                                continue
                            ref.tell(Disconnect(4000, "chaos") if rng.random() < 0.5 else object())

                with trio.fail_after(90):
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(chaos)
                        async with trio.open_nursery() as clients:
                            for i in range(100):
                                clients.start_soon(one, poor if i % 4 == 0 else rich)
                        done.set()

                async def quiet() -> bool:
                    accounts = [await _account(running, a) for a in (rich_id, poor_id)]
                    return all(a["open_holds"] == 0 for a in accounts)

                await wait_until(quiet, timeout=15)
                for account_id in (rich_id, poor_id):
                    acct = await _account(running, account_id)
                    assert acct["balance_micro_usd"] >= 0
                assert await store.list_open_holds() == []
                assert await store.ledger_mismatches() == []
                assert (await scheduler_stats(running))["reserved_total"] == 0
