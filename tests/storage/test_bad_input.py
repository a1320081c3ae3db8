"""Bad input (both stores): unknown ids, bad amounts, over-long or malformed text all raise
typed StoreErrors and change nothing; no driver exception ever escapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.storage import (
    InsufficientFunds,
    InvalidInput,
    Store,
    StoreError,
    UnknownAccount,
    UsageRecord,
    open_store,
)
from switchyard.storage.validate import MAX_AMOUNT

from .helpers import StoreTarget, assert_balanced, balance, funded

MISSING = "acct_does_not_exist"
NAIVE = datetime(2026, 1, 1)  # no tzinfo: usage times must be aware

UNKNOWN_ACCOUNT_CALLS: dict[str, Callable[[Store], Awaitable[object]]] = {
    "create_api_key": lambda s: s.create_api_key(MISSING, "k"),
    "list_api_keys": lambda s: s.list_api_keys(MISSING),
    "credit": lambda s: s.credit(MISSING, 1, "topup", "r"),
    "ledger_entries": lambda s: s.ledger_entries(MISSING),
    "ledger_sum": lambda s: s.ledger_sum(MISSING),
    "create_hold": lambda s: s.create_hold(MISSING, "req-1", 1),
    "count_open_holds": lambda s: s.count_open_holds(MISSING),
    "recent_usage": lambda s: s.recent_usage(MISSING),
    "upsert_provider": lambda s: s.upsert_provider("p", MISSING, "key", "self_signed"),
    "create_provider_token": lambda s: s.create_provider_token(MISSING, "t"),
    "list_provider_tokens": lambda s: s.list_provider_tokens(MISSING),
    "record_stripe_event": lambda s: s.record_stripe_event("evt_x", MISSING, 1),
    "create_payout": lambda s: s.create_payout(MISSING, 1, "po-x"),
    "list_payouts": lambda s: s.list_payouts(MISSING),
}


@pytest.mark.parametrize("method", sorted(UNKNOWN_ACCOUNT_CALLS))
async def test_unknown_account_is_typed(store: Store, method: str) -> None:
    with pytest.raises(UnknownAccount):
        await UNKNOWN_ACCOUNT_CALLS[method](store)


def _bad_calls(acct: str) -> dict[str, Callable[[Store], Awaitable[object]]]:
    long_name = "x" * 201
    return {
        "account name too long": lambda s: s.create_account(long_name),
        "account name empty": lambda s: s.create_account("   "),
        "account name NUL": lambda s: s.create_account("a\x00b"),
        "account name lone surrogate": lambda s: s.create_account("bad \ud800"),
        "account name not str": lambda s: s.create_account(42),  # type: ignore[arg-type]
        "key name too long": lambda s: s.create_api_key(acct, long_name),
        "token name too long": lambda s: s.create_provider_token(acct, long_name),
        "negative hold": lambda s: s.create_hold(acct, "req-1", -5),
        "float hold": lambda s: s.create_hold(acct, "req-1", 5.0),  # type: ignore[arg-type]
        "huge hold": lambda s: s.create_hold(acct, "req-1", 2**63),
        "request id too long": lambda s: s.create_hold(acct, "r" * 201, 1),
        "reserved hold key": lambda s: s.create_hold(acct, "req-1", 1, "sy:hold:req-2"),
        "negative settle": lambda s: s.settle_hold("req-1", -1),
        "negative stripe": lambda s: s.record_stripe_event("evt_1", acct, -100),
        "negative payout": lambda s: s.create_payout(acct, -1, "po-1"),
        "bool payout": lambda s: s.create_payout(acct, True, "po-1"),  # type: ignore[arg-type]
        "negative price": lambda s: s.set_pricing("m", 1, -1),
        "empty model": lambda s: s.set_pricing("", 1, 1),
        "zero limit": lambda s: s.recent_usage(acct, limit=0),
        "huge limit": lambda s: s.ledger_entries(acct, limit=10**9),
        "usage not a list": lambda s: s.record_usage("nope"),  # type: ignore[arg-type]
        "usage wrong item": lambda s: s.record_usage([{"request_id": "r"}]),  # type: ignore[list-item]
        "usage naive time": lambda s: s.record_usage(
            [
                UsageRecord(
                    "r", acct, None, None, "m", 1, 1, 1, None, None, "ok", datetime(2026, 1, 1)
                )
            ]
        ),
        "provider trust too long": lambda s: s.upsert_provider("p", acct, "k", "t" * 201),
        "schema-ish id": lambda s: s.get_account(None),  # type: ignore[arg-type]
    }


BAD_CALL_NAMES = sorted(_bad_calls("acct").keys())


@pytest.mark.parametrize("case", BAD_CALL_NAMES)
async def test_bad_input_is_typed_and_changes_nothing(store: Store, case: str) -> None:
    acct = await funded(store, "victim", 1_000)
    with pytest.raises(InvalidInput):
        await _bad_calls(acct.id)[case](store)
    assert await balance(store, acct.id) == (1_000, 0)
    assert [a.id for a in await store.list_accounts()] == [acct.id]
    assert await store.list_open_holds() == []
    await assert_balanced(store)


async def test_limits_of_names(store: Store) -> None:
    assert (await store.create_account("n" * 200)).name == "n" * 200
    assert (await store.create_account("Zoë — 東京 🚀")).name == "Zoë — 東京 🚀"


async def _error_of(call: Awaitable[object]) -> type[StoreError] | None:
    """The StoreError type a call raised, or None."""
    try:
        await call
    except StoreError as exc:
        return type(exc)
    return None


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cases=st.lists(
        st.tuples(st.text(max_size=260), st.integers(min_value=-(2**64), max_value=2**64)),
        min_size=1,
        max_size=6,
    )
)
def test_fuzzed_names_and_amounts_never_leak(
    store_target: StoreTarget, cases: list[tuple[str, int]]
) -> None:
    """Arbitrary text and integers either work or raise a StoreError; state stays sound.

    Synchronous on purpose: each Hypothesis example runs its own trio.run and opens the
    store inside it (an async fixture would outlive the run that created it).
    """

    async def run() -> None:
        async with open_store(store_target.url, schema=store_target.schema) as store:
            for name, amount in cases:
                try:
                    account = await store.create_account(name)
                except InvalidInput:
                    continue
                assert (await store.get_account(account.id)) == account
                valid = 1 <= abs(amount) <= MAX_AMOUNT
                reserved = name.startswith(("sy:", "stripe:"))
                expected_credit = InvalidInput if not valid else None
                if valid and amount < 0:
                    expected_credit = InsufficientFunds
                positive = valid and amount > 0
                expected_stripe = None if positive else InvalidInput
                expected_hold = None if positive or amount == 0 else InvalidInput
                expected_payout = InsufficientFunds if positive and not reserved else InvalidInput
                got = [
                    await _error_of(store.credit(account.id, amount, "adjustment", name)),
                    await _error_of(
                        store.record_stripe_event(f"e-{account.id}", account.id, amount)
                    ),
                    await _error_of(store.create_hold(account.id, f"r-{account.id}", amount)),
                    await _error_of(store.create_payout(account.id, amount, name)),
                ]
                assert got == [expected_credit, expected_stripe, expected_hold, expected_payout]
            await assert_balanced(store)

    trio.run(run)


async def test_chosen_api_key(store) -> None:  # type: ignore[no-untyped-def]
    from switchyard.storage import Conflict, InvalidInput

    account = await store.create_account("chooser")
    record, raw = await store.create_api_key(account.id, "demo", raw_key="sk-sy-demo-key-1")
    assert raw == "sk-sy-demo-key-1"
    assert (await store.lookup_api_key(raw)).id == record.id
    with pytest.raises(Conflict):
        await store.create_api_key(account.id, "again", raw_key="sk-sy-demo-key-1")
    for bad in ("demo-key-123", "sk-sy-short", "sk-sy-has space here", "sk-sy-" + "x" * 300):
        with pytest.raises(InvalidInput):
            await store.create_api_key(account.id, "bad", raw_key=bad)
