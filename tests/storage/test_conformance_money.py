"""Conformance, part 2 (both stores): credits and the ledger, holds, Stripe, payouts."""

from __future__ import annotations

import pytest

from switchyard.storage import (
    Conflict,
    HoldStatus,
    InsufficientFunds,
    InvalidInput,
    LedgerKind,
    LedgerSum,
    Store,
    UnknownAccount,
    UnknownHold,
)

from .helpers import assert_balanced, balance, funded


async def test_credit_and_ledger(store: Store) -> None:
    acct = await store.create_account("alice")
    entry = await store.credit(acct.id, 5_000_000, LedgerKind.TOPUP, "bank transfer", "tx-1")
    assert (entry.account_id, entry.amount_micro_usd, entry.kind) == (acct.id, 5_000_000, "topup")
    assert (entry.reference, entry.idempotency_key) == ("bank transfer", "tx-1")
    assert await balance(store, acct.id) == (5_000_000, 0)

    # replaying the key returns the original entry and moves no money
    assert await store.credit(acct.id, 5_000_000, "topup", "retry", "tx-1") == entry
    assert await balance(store, acct.id) == (5_000_000, 0)
    with pytest.raises(Conflict):
        await store.credit(acct.id, 4_000_000, "topup", "other", "tx-1")

    debit = await store.credit(acct.id, -1_000_000, "adjustment", "refund reversal")
    assert debit.kind is LedgerKind.ADJUSTMENT and debit.idempotency_key.startswith("sy:")
    with pytest.raises(InsufficientFunds):
        await store.credit(acct.id, -4_000_001, "adjustment", "too much", "adj-2")
    assert await balance(store, acct.id) == (4_000_000, 0)
    # the refused key was not consumed
    await store.credit(acct.id, -4_000_000, "adjustment", "exactly all", "adj-2")
    assert await balance(store, acct.id) == (0, 0)

    entries = await store.ledger_entries(acct.id)
    assert [e.amount_micro_usd for e in entries] == [-4_000_000, -1_000_000, 5_000_000]
    assert [e.amount_micro_usd for e in await store.ledger_entries(acct.id, limit=1)] == [
        -4_000_000
    ]
    assert await store.ledger_sum(acct.id) == LedgerSum(0, 0)
    with pytest.raises(UnknownAccount):
        await store.credit("acct_missing", 1, "topup", "x")
    with pytest.raises(UnknownAccount):
        await store.ledger_sum("acct_missing")
    with pytest.raises(UnknownAccount):
        await store.ledger_entries("acct_missing")
    await assert_balanced(store)


@pytest.mark.parametrize(
    ("amount", "kind", "key"),
    [
        (-1, "topup", None),
        (0, "topup", None),
        (0, "adjustment", None),
        (10, "hold", None),
        (10, "earning", None),
        (10, "bogus", None),
        (1.5, "topup", None),
        (True, "topup", None),
        (10, "topup", "sy:settle:req-1"),
        (10, "topup", "stripe:evt_1"),
        (10**16, "topup", None),
    ],
)
async def test_credit_rejects_bad_input(
    store: Store, amount: object, kind: str, key: str | None
) -> None:
    acct = await store.create_account("alice")
    with pytest.raises(InvalidInput):
        await store.credit(acct.id, amount, kind, "reason", key)  # type: ignore[arg-type]
    assert await balance(store, acct.id) == (0, 0)


async def test_hold_then_settle_exactly_once(store: Store) -> None:
    consumer = await funded(store, "consumer", 1_000_000)
    owner = await store.create_account("provider owner")
    hold = await store.create_hold(consumer.id, "req-1", 300_000)
    assert (hold.request_id, hold.account_id, hold.amount_micro_usd) == (
        "req-1",
        consumer.id,
        300_000,
    )
    assert (hold.status, hold.charged_micro_usd, hold.closed_at) == (HoldStatus.OPEN, None, None)
    assert await balance(store, consumer.id) == (700_000, 0)
    assert await store.count_open_holds(consumer.id) == 1
    assert [h.request_id for h in await store.list_open_holds()] == ["req-1"]
    assert await store.get_hold("req-1") == hold
    # the same request again is idempotent; a different amount is a conflict
    assert await store.create_hold(consumer.id, "req-1", 300_000) == hold
    with pytest.raises(Conflict):
        await store.create_hold(consumer.id, "req-1", 1)
    assert await balance(store, consumer.id) == (700_000, 0)

    outcome = await store.settle_hold("req-1", 120_000, owner.id, 108_000)
    assert not outcome.already_closed
    settled = outcome.hold
    assert (settled.status, settled.charged_micro_usd) == (HoldStatus.SETTLED, 120_000)
    assert (settled.provider_account_id, settled.provider_earning_micro_usd) == (owner.id, 108_000)
    assert settled.closed_at is not None
    assert await balance(store, consumer.id) == (880_000, 0)
    assert await balance(store, owner.id) == (0, 108_000)
    assert await store.count_open_holds(consumer.id) == 0 and await store.list_open_holds() == []

    again = await store.settle_hold("req-1", 300_000, owner.id, 1)
    assert again.already_closed and again.hold == settled
    released = await store.release_hold("req-1")
    assert released.already_closed and released.hold == settled
    assert await balance(store, consumer.id) == (880_000, 0)
    assert await balance(store, owner.id) == (0, 108_000)

    kinds = [(e.kind.value, e.amount_micro_usd) for e in await store.ledger_entries(consumer.id)]
    assert kinds == [("settle", -120_000), ("release", 300_000), ("hold", -300_000),
                     ("topup", 1_000_000)]  # fmt: skip
    [earning] = await store.ledger_entries(owner.id)
    assert (earning.kind, earning.amount_micro_usd, earning.reference) == (
        LedgerKind.EARNING,
        108_000,
        "req-1",
    )
    await assert_balanced(store)


async def test_release_returns_everything_once(store: Store) -> None:
    consumer = await funded(store, "consumer", 500)
    await store.create_hold(consumer.id, "req-a", 500, idempotency_key="client-key-a")
    assert await balance(store, consumer.id) == (0, 0)
    with pytest.raises(InsufficientFunds):
        await store.create_hold(consumer.id, "req-b", 1)
    assert await store.get_hold("req-b") is None

    outcome = await store.release_hold("req-a")
    assert not outcome.already_closed
    assert (outcome.hold.status, outcome.hold.charged_micro_usd) == (HoldStatus.RELEASED, 0)
    assert await balance(store, consumer.id) == (500, 0)
    assert (await store.release_hold("req-a")).already_closed
    assert (await store.settle_hold("req-a", 10)).already_closed
    assert await balance(store, consumer.id) == (500, 0)
    # the hold's ledger entry carries the caller's key; reusing it elsewhere conflicts
    assert (await store.ledger_entries(consumer.id, limit=2))[1].idempotency_key == "client-key-a"
    with pytest.raises(Conflict):
        await store.create_hold(consumer.id, "req-c", 10, idempotency_key="client-key-a")
    assert await balance(store, consumer.id) == (500, 0)
    await assert_balanced(store)


async def test_settle_edge_cases(store: Store) -> None:
    consumer = await funded(store, "consumer", 1_000)
    await store.create_hold(consumer.id, "req-1", 400)
    with pytest.raises(InvalidInput):
        await store.settle_hold("req-1", 401)
    with pytest.raises(InvalidInput):
        await store.settle_hold("req-1", 100, consumer.id, 101)
    with pytest.raises(InvalidInput):
        await store.settle_hold("req-1", 100, None, 50)
    with pytest.raises(InvalidInput):
        await store.settle_hold("req-1", -1)
    # an unknown provider account fails the whole settlement; the hold stays open
    with pytest.raises(UnknownAccount):
        await store.settle_hold("req-1", 100, "acct_missing", 90)
    assert (await store.get_hold("req-1")).status is HoldStatus.OPEN  # type: ignore[union-attr]
    with pytest.raises(UnknownHold):
        await store.settle_hold("req-missing", 0)
    with pytest.raises(UnknownHold):
        await store.release_hold("req-missing")
    assert await store.get_hold("req-missing") is None

    # a consumer may also own the provider; a full-cost settle and a zero hold both work
    outcome = await store.settle_hold("req-1", 400, consumer.id, 360)
    assert outcome.hold.charged_micro_usd == 400
    assert await balance(store, consumer.id) == (600, 360)
    zero = await store.create_hold(consumer.id, "req-free", 0)
    assert zero.amount_micro_usd == 0
    assert not (await store.settle_hold("req-free", 0)).already_closed
    assert await balance(store, consumer.id) == (600, 360)
    with pytest.raises(UnknownAccount):
        await store.create_hold("acct_missing", "req-2", 1)
    with pytest.raises(UnknownAccount):
        await store.count_open_holds("acct_missing")
    await assert_balanced(store)


async def test_stripe_event_credits_once(store: Store) -> None:
    acct = await store.create_account("buyer")
    assert await store.record_stripe_event("evt_1", acct.id, 10_000_000) is True
    assert await store.record_stripe_event("evt_1", acct.id, 10_000_000) is False
    assert await store.record_stripe_event("evt_1", acct.id, 99) is False
    assert await balance(store, acct.id) == (10_000_000, 0)
    [entry] = await store.ledger_entries(acct.id)
    assert (entry.kind, entry.idempotency_key) == (LedgerKind.TOPUP, "stripe:evt_1")
    with pytest.raises(UnknownAccount):
        await store.record_stripe_event("evt_2", "acct_missing", 1)
    # the failed event was not recorded: it can still be processed for a real account
    assert await store.record_stripe_event("evt_2", acct.id, 1) is True
    with pytest.raises(InvalidInput):
        await store.record_stripe_event("evt_3", acct.id, 0)
    assert await balance(store, acct.id) == (10_000_001, 0)
    await assert_balanced(store)


async def test_stripe_checkout_session_credits_once_across_events(store: Store) -> None:
    """One paid session arrives as `completed` and `async_payment_succeeded`: one credit."""
    acct = await store.create_account("buyer")
    assert await store.record_stripe_event("evt_a", acct.id, 5_000, session_id="cs_1") is True
    assert await store.record_stripe_event("evt_b", acct.id, 5_000, session_id="cs_1") is False
    assert await store.record_stripe_event("evt_c", acct.id, 7, session_id="cs_2") is True
    assert await balance(store, acct.id) == (5_007, 0)
    with pytest.raises(InvalidInput):
        await store.record_stripe_event("evt_d", acct.id, 1, session_id="")
    await assert_balanced(store)


async def test_payouts_debit_earnings(store: Store) -> None:
    consumer = await funded(store, "consumer", 1_000)
    owner = await store.create_account("owner")
    await store.create_hold(consumer.id, "req-1", 1_000)
    await store.settle_hold("req-1", 1_000, owner.id, 900)
    with pytest.raises(InsufficientFunds):
        await store.create_payout(owner.id, 901, "payout-0")
    payout = await store.create_payout(owner.id, 600, "payout-1")
    assert payout.id.startswith("po_")
    assert (payout.account_id, payout.amount_micro_usd, payout.idempotency_key) == (
        owner.id,
        600,
        "payout-1",
    )
    assert await balance(store, owner.id) == (0, 300)
    assert await store.create_payout(owner.id, 600, "payout-1") == payout
    with pytest.raises(Conflict):
        await store.create_payout(owner.id, 100, "payout-1")
    with pytest.raises(InsufficientFunds):
        await store.create_payout(consumer.id, 1, "payout-2")
    second = await store.create_payout(owner.id, 300, "payout-0")
    assert await balance(store, owner.id) == (0, 0)
    assert await store.list_payouts(owner.id) == [payout, second]
    assert await store.list_payouts() == [payout, second]
    assert await store.list_payouts(consumer.id) == []
    with pytest.raises(UnknownAccount):
        await store.list_payouts("acct_missing")
    with pytest.raises(UnknownAccount):
        await store.create_payout("acct_missing", 1, "payout-3")
    [last] = await store.ledger_entries(owner.id, limit=1)
    assert (last.kind, last.amount_micro_usd, last.idempotency_key) == (
        LedgerKind.PAYOUT,
        -300,
        "payout-0",
    )
    await assert_balanced(store)
