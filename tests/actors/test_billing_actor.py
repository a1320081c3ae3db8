"""BillingActor on its own: a real actor system and store (both stores), no HTTP, no sockets.

Holds are asked for, settlements told, and `BillingIdle` waits until the store calls the
actor runs in helper tasks have finished, so the balances can be read right after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from switchyard.actors.billing import BillingActor, BillingConfig
from switchyard.actors.billing_messages import (
    BillingIdle,
    BillingStats,
    Hold,
    HoldGranted,
    InsufficientCredit,
    Settle,
)
from switchyard.billing.pricing import Price, fee_bps, provider_earning
from switchyard.runtime import ActorRef, ActorSystem, ChildSpec
from switchyard.storage import Store, open_store

from ..storage.helpers import assert_balanced, balance, funded

StoreTarget = tuple[str | None, str | None]
PRICE = Price(1_000_000, 2_000_000)  # 1 micro-USD per prompt token, 2 per completion token
CONFIG = BillingConfig(platform_fee=0.10, tolerance_tokens=16, tolerance_percent=10)


@dataclass
class Env:
    store: Store
    billing: ActorRef
    consumer: str  # account ids
    owner: str

    async def hold(self, request_id: str, prompt: int = 10, max_tokens: int = 20) -> HoldGranted:
        msg = Hold(request_id, self.consumer, "m", prompt, max_tokens)
        granted: HoldGranted = await self.billing.ask(msg)
        return granted

    async def settle(
        self, request_id: str, relayed: int, reported: tuple[int, int] | None = None
    ) -> None:
        self.billing.tell(
            Settle(
                request_id=request_id, account_id=self.consumer, api_key_id=None, model="m",
                provider_id="prov-a", prompt_tokens_est=10, relayed_tokens=relayed,
                reported_prompt_tokens=reported[0] if reported else None,
                reported_completion_tokens=reported[1] if reported else None,
                outcome="ok", ttft_ms=12, duration_ms=345,
            )
        )  # fmt: skip
        await self.billing.ask(BillingIdle())

    async def counters(self) -> dict[str, int]:
        stats: dict[str, int] = await self.billing.ask(BillingStats())
        return stats


@asynccontextmanager
async def billing_env(target: StoreTarget, credit: int = 1_000) -> AsyncIterator[Env]:
    url, schema = target
    async with open_store(url, schema=schema) as store:
        consumer = await funded(store, "consumer", credit)
        owner = await funded(store, "owner", 0)
        await store.upsert_provider("prov-a", owner.id, "public-key", "self_signed")
        await store.set_pricing("m", PRICE.input_per_mtok, PRICE.output_per_mtok)
        spec = ChildSpec("billing", lambda: BillingActor(store, CONFIG))
        async with ActorSystem.open([spec]) as system:
            yield Env(store, system.lookup("/root/billing"), consumer.id, owner.id)
        await assert_balanced(store)


async def test_a_reported_settlement_charges_the_report_and_pays_the_owner(
    store_target: StoreTarget,
) -> None:
    async with billing_env(store_target) as env:
        granted = await env.hold("bill_1", prompt=10, max_tokens=20)
        assert (granted.amount_micro_usd, granted.price) == (10 + 2 * 20, PRICE)
        assert await balance(env.store, env.consumer) == (1_000 - 50, 0)
        await env.settle("bill_1", relayed=5, reported=(8, 5))
        charge = 8 + 2 * 5
        assert await balance(env.store, env.consumer) == (1_000 - charge, 0)
        earning = provider_earning(charge, fee_bps(CONFIG.platform_fee))
        assert await balance(env.store, env.owner) == (0, earning)
        [row] = await env.store.recent_usage(env.consumer)
        assert (row.prompt_tokens, row.completion_tokens, row.cost_micro_usd) == (8, 5, charge)
        assert (row.provider_id, row.outcome, row.ttft_ms, row.duration_ms) == (
            "prov-a", "ok", 12, 345,
        )  # fmt: skip
        counters = await env.counters()
        assert (counters["held"], counters["settled"], counters["mismatches"]) == (1, 1, 0)


async def test_a_report_beyond_what_was_relayed_is_charged_up_to_the_tolerance(
    store_target: StoreTarget,
) -> None:
    async with billing_env(store_target) as env:
        await env.hold("bill_1", prompt=10, max_tokens=100)
        await env.settle("bill_1", relayed=10, reported=(8, 1_000))
        allowed = 10 * CONFIG.tolerance_percent // 100 + CONFIG.tolerance_tokens
        [row] = await env.store.recent_usage(env.consumer)
        assert row.completion_tokens == 10 + allowed
        assert row.cost_micro_usd == 8 + 2 * (10 + allowed)
        assert (await env.counters())["mismatches"] == 1


async def test_a_request_that_relayed_nothing_has_its_hold_released(
    store_target: StoreTarget,
) -> None:
    async with billing_env(store_target) as env:
        await env.hold("bill_1")
        await env.settle("bill_1", relayed=0)
        assert await balance(env.store, env.consumer) == (1_000, 0)
        assert await env.store.count_open_holds(env.consumer) == 0
        [row] = await env.store.recent_usage(env.consumer)
        assert (row.completion_tokens, row.cost_micro_usd) == (0, 0)
        assert (await env.counters())["released"] == 1


async def test_a_hold_the_balance_cannot_cover_is_refused_and_takes_nothing(
    store_target: StoreTarget,
) -> None:
    async with billing_env(store_target, credit=49) as env:
        with pytest.raises(InsufficientCredit):
            await env.hold("bill_1", prompt=10, max_tokens=20)  # costs up to 50
        assert await balance(env.store, env.consumer) == (49, 0)
        assert await env.store.count_open_holds(env.consumer) == 0
        assert (await env.counters())["refused"] == 1
