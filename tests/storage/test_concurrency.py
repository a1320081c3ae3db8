"""Concurrency (both stores): many trio tasks racing on the same money never overdraw,
never double-apply an idempotent operation, and leave the ledger balanced."""

from __future__ import annotations

import random

import trio
import trio.lowlevel

from switchyard.storage import HoldOutcome, InsufficientFunds, Store

from .helpers import assert_balanced, balance, funded

HOLD = 10_000


async def test_50_holds_against_a_balance_for_20(store: Store) -> None:
    acct = await funded(store, "spender", 20 * HOLD)
    succeeded: list[str] = []
    refused: list[str] = []
    lowest_seen: list[int] = []

    async def spend(n: int) -> None:
        try:
            await store.create_hold(acct.id, f"req-{n}", HOLD)
        except InsufficientFunds:
            refused.append(f"req-{n}")
        else:
            succeeded.append(f"req-{n}")

    async def watch(stop: trio.Event) -> None:
        while not stop.is_set():
            lowest_seen.append((await balance(store, acct.id))[0])
            await trio.lowlevel.checkpoint()

    stop = trio.Event()
    async with trio.open_nursery() as watchers:
        watchers.start_soon(watch, stop)
        async with trio.open_nursery() as spenders:
            for n in range(50):
                spenders.start_soon(spend, n)
        stop.set()

    assert len(succeeded) == 20 and len(refused) == 30
    assert min(lowest_seen) >= 0
    assert await balance(store, acct.id) == (0, 0)
    assert await store.count_open_holds(acct.id) == 20
    assert sorted(h.request_id for h in await store.list_open_holds()) == sorted(succeeded)
    await assert_balanced(store)


async def test_racing_settles_and_releases_close_a_hold_once(store: Store) -> None:
    consumer = await funded(store, "consumer", 1_000)
    owner = await store.create_account("owner")
    await store.create_hold(consumer.id, "req-1", 1_000)
    outcomes: list[HoldOutcome] = []

    async def close(n: int) -> None:
        if n % 2:
            outcomes.append(await store.release_hold("req-1"))
        else:
            outcomes.append(await store.settle_hold("req-1", 400, owner.id, 300))

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(close, n)

    [winner] = [o for o in outcomes if not o.already_closed]
    assert all(o.hold == winner.hold for o in outcomes)
    expected = (600, 0) if winner.hold.status == "settled" else (1_000, 0)
    assert await balance(store, consumer.id) == expected
    await assert_balanced(store)


async def test_duplicate_idempotent_calls_at_once_apply_once(store: Store) -> None:
    buyer = await store.create_account("buyer")
    stripe_results: list[bool] = []
    credit_ids: set[int] = set()

    async def webhook() -> None:
        stripe_results.append(await store.record_stripe_event("evt_dup", buyer.id, 5_000))

    async def credit() -> None:
        entry = await store.credit(buyer.id, 700, "adjustment", "goodwill", "adj-dup")
        credit_ids.add(entry.id)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(webhook)
            nursery.start_soon(credit)

    assert sorted(stripe_results) == [False] * 4 + [True]
    assert len(credit_ids) == 1
    assert await balance(store, buyer.id) == (5_700, 0)

    # payouts with one key, and holds for one request id, also apply once
    consumer = await funded(store, "consumer", 1_000)
    await store.create_hold(consumer.id, "req-x", 1_000)
    await store.settle_hold("req-x", 1_000, buyer.id, 1_000)
    payout_ids: set[str] = set()
    hold_times: set[object] = set()

    async def payout() -> None:
        payout_ids.add((await store.create_payout(buyer.id, 600, "po-dup")).id)

    async def hold() -> None:
        hold_times.add((await store.create_hold(buyer.id, "req-same", 100)).created_at)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(payout)
            nursery.start_soon(hold)

    assert len(payout_ids) == 1 and len(hold_times) == 1
    assert await balance(store, buyer.id) == (5_600, 400)
    await assert_balanced(store)


async def test_cross_settlements_between_accounts_stay_balanced(store: Store) -> None:
    """Accounts pay each other's earnings in both directions at once (lock ordering)."""
    accounts = [await funded(store, f"peer-{n}", 100_000) for n in range(4)]
    rng = random.Random(7)
    plan = [(rng.choice(accounts).id, rng.choice(accounts).id, n) for n in range(60)]

    async def request(payer: str, earner: str, n: int) -> None:
        try:
            await store.create_hold(payer, f"req-{n}", 3_000)
        except InsufficientFunds:
            return
        await trio.lowlevel.checkpoint()
        if n % 5 == 0:
            await store.release_hold(f"req-{n}")
        else:
            await store.settle_hold(f"req-{n}", 2_000, earner, 1_800)

    async with trio.open_nursery() as nursery:
        for payer, earner, n in plan:
            nursery.start_soon(request, payer, earner, n)

    assert await store.list_open_holds() == []
    await assert_balanced(store)
    total = [await balance(store, a.id) for a in accounts]
    settled = sum(1 for _, _, n in plan if n % 5)
    assert sum(b for b, _ in total) == 400_000 - 2_000 * settled
    assert sum(e for _, e in total) == 1_800 * settled
