"""Conformance, part 1 (both stores): accounts, API keys, provider tokens, providers,
pricing and usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from switchyard.storage import (
    Conflict,
    InvalidInput,
    Store,
    UnknownAccount,
    UnknownApiKey,
    UnknownProvider,
    UnknownProviderToken,
    UsageRecord,
)

SECRET_KINDS = {
    "api_key": ("sk-sy-", "api_key", "api_keys", UnknownApiKey),
    "provider_token": ("pt-sy-", "provider_token", "provider_tokens", UnknownProviderToken),
}


async def test_accounts_create_get_list(store: Store) -> None:
    alice = await store.create_account("Alice")
    bob = await store.create_account("b" * 200)
    assert alice.id.startswith("acct_") and alice.id != bob.id
    assert (alice.name, alice.balance_micro_usd, alice.earnings_micro_usd) == ("Alice", 0, 0)
    assert alice.created_at.tzinfo is not None
    assert await store.get_account(alice.id) == alice
    assert await store.get_account("acct_missing") is None
    assert [a.id for a in await store.list_accounts()] == [alice.id, bob.id]
    assert store.kind in ("memory", "postgres") and isinstance(store, Store)
    await store.ping()


@pytest.mark.parametrize("kind", sorted(SECRET_KINDS))
async def test_secrets_hashed_lookup_revoke_touch(store: Store, kind: str) -> None:
    prefix, single, plural, missing = SECRET_KINDS[kind]
    create = getattr(store, f"create_{single}")
    lookup = getattr(store, f"lookup_{single}")
    revoke = getattr(store, f"revoke_{single}")
    touch = getattr(store, f"touch_{single}")
    list_all = getattr(store, f"list_{plural}")
    account = await store.create_account("owner")

    record, raw = await create(account.id, "laptop")
    assert raw.startswith(prefix) and len(raw) >= len(prefix) + 32
    assert record.prefix == raw[:12] and record.account_id == account.id
    assert (record.name, record.last_used_at, record.revoked) == ("laptop", None, False)
    other, other_raw = await create(account.id, "server")
    assert other_raw != raw and other.id != record.id

    assert await lookup(raw) == record
    assert await lookup(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert await lookup("not a key") is None
    assert await lookup(prefix) is None

    await touch(record.id)
    touched = await lookup(raw)
    assert touched is not None and touched.last_used_at is not None

    revoked = await revoke(record.id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert await lookup(raw) is None
    assert (await revoke(record.id)).revoked_at == revoked.revoked_at
    assert await lookup(other_raw) == other
    listed = await list_all(account.id)
    assert [r.id for r in listed] == [record.id, other.id]
    assert listed[0].revoked and not listed[1].revoked

    with pytest.raises(missing):
        await revoke("nope")
    with pytest.raises(missing):
        await touch("nope")
    with pytest.raises(UnknownAccount):
        await create("acct_missing", "x")
    with pytest.raises(UnknownAccount):
        await list_all("acct_missing")
    assert await list_all((await store.create_account("empty")).id) == []


async def test_providers(store: Store) -> None:
    owner = await store.create_account("gpu owner")
    intruder = await store.create_account("someone else")
    created = await store.upsert_provider("prov-1", owner.id, "ed25519:AAAA", "self_signed")
    assert (created.owner_account_id, created.public_key, created.trust) == (
        owner.id,
        "ed25519:AAAA",
        "self_signed",
    )
    assert await store.get_provider("prov-1") == created
    assert await store.get_provider("prov-missing") is None

    await trio.sleep(0.01)
    updated = await store.upsert_provider("prov-1", owner.id, "ed25519:BBBB", "hardware")
    assert (updated.public_key, updated.trust, updated.created_at) == (
        "ed25519:BBBB",
        "hardware",
        created.created_at,
    )
    assert updated.last_seen_at > created.last_seen_at
    await trio.sleep(0.01)
    await store.touch_provider("prov-1")
    touched = await store.get_provider("prov-1")
    assert touched is not None and touched.last_seen_at > updated.last_seen_at

    with pytest.raises(Conflict):
        await store.upsert_provider("prov-1", intruder.id, "ed25519:CCCC", "hardware")
    assert await store.get_provider("prov-1") == touched
    with pytest.raises(UnknownAccount):
        await store.upsert_provider("prov-2", "acct_missing", "k", "self_signed")
    with pytest.raises(UnknownProvider):
        await store.touch_provider("prov-missing")
    await store.upsert_provider("prov-2", intruder.id, "ed25519:DDDD", "self_signed")
    assert [p.id for p in await store.list_providers()] == ["prov-1", "prov-2"]


async def test_pricing(store: Store) -> None:
    assert await store.list_pricing() == []
    assert await store.get_pricing("sim-small") is None
    small = await store.set_pricing("sim-small", 100_000, 300_000, context_length=8192)
    assert (small.model, small.input_micro_usd_per_mtok, small.output_micro_usd_per_mtok) == (
        "sim-small",
        100_000,
        300_000,
    )
    assert small.context_length == 8192
    free = await store.set_pricing("a-free-model", 0, 0)
    assert free.context_length is None
    assert await store.get_pricing("sim-small") == small
    replaced = await store.set_pricing("sim-small", 200_000, 600_000)
    assert (replaced.input_micro_usd_per_mtok, replaced.context_length) == (200_000, None)
    assert [p.model for p in await store.list_pricing()] == ["a-free-model", "sim-small"]
    with pytest.raises(InvalidInput):
        await store.set_pricing("sim-small", -1, 0)
    with pytest.raises(InvalidInput):
        await store.set_pricing("sim-small", 1, 1, context_length=0)
    assert await store.get_pricing("sim-small") == replaced


def _usage(account_id: str, n: int, when: datetime, **overrides: object) -> UsageRecord:
    fields: dict[str, object] = {
        "request_id": f"req-{n}",
        "account_id": account_id,
        "api_key_id": "key_1",
        "provider_id": "prov-1",
        "model": "sim-small",
        "prompt_tokens": 10 * n,
        "completion_tokens": 20 * n,
        "cost_micro_usd": 7 * n,
        "ttft_ms": 15,
        "duration_ms": 120,
        "outcome": "ok",
        "created_at": when,
    }
    fields.update(overrides)
    return UsageRecord(**fields)  # type: ignore[arg-type]


async def test_usage_batches(store: Store) -> None:
    alice = await store.create_account("alice")
    bob = await store.create_account("bob")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    batch = [_usage(alice.id, n, base + timedelta(seconds=n)) for n in range(1, 6)]
    batch.append(
        _usage(bob.id, 9, base, api_key_id=None, provider_id=None, ttft_ms=None, outcome="error")
    )
    await store.record_usage(batch)
    await store.record_usage([])

    recent = await store.recent_usage(alice.id, limit=3)
    assert [r.request_id for r in recent] == ["req-5", "req-4", "req-3"]
    assert recent[0] == batch[4]
    assert await store.recent_usage(bob.id) == [batch[5]]

    # a batch is atomic: one bad row (unknown account) and nothing is written
    with pytest.raises(UnknownAccount):
        await store.record_usage([_usage(alice.id, 6, base), _usage("acct_missing", 7, base)])
    assert len(await store.recent_usage(alice.id)) == 5
    with pytest.raises(InvalidInput):
        await store.record_usage([_usage(alice.id, 8, base, prompt_tokens=-1)])
    with pytest.raises(UnknownAccount):
        await store.recent_usage("acct_missing")


async def test_api_key_limits(store) -> None:  # type: ignore[no-untyped-def]
    from switchyard.storage import InvalidInput, KeyLimits, NotFound

    account = await store.create_account("limited")
    record, _ = await store.create_api_key(account.id, "k")
    assert await store.get_api_key_limits(record.id) == KeyLimits()
    assert await store.set_api_key_limits(record.id, KeyLimits(rpm=5, tpm=None)) == KeyLimits(5)
    assert await store.get_api_key_limits(record.id) == KeyLimits(rpm=5)
    await store.set_api_key_limits(record.id, KeyLimits(rpm=None, tpm=1000))
    assert await store.get_api_key_limits(record.id) == KeyLimits(tpm=1000)
    with pytest.raises(NotFound):
        await store.set_api_key_limits("key_nope", KeyLimits(rpm=1))
    for bad in (KeyLimits(rpm=0), KeyLimits(tpm=-3), KeyLimits(rpm=True)):  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            await store.set_api_key_limits(record.id, bad)


async def test_closing_a_hold_writes_its_usage_row_in_the_same_step(store: Store) -> None:
    """The row is the settlement's own: written once, with the hold's account and charge."""
    buyer = await store.create_account("buyer")
    owner = await store.create_account("owner")
    await store.credit(buyer.id, 10_000, "topup", "funding")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for request in ("req-1", "req-2", "req-3"):
        await store.create_hold(buyer.id, request, 1_000)

    # a row for another request is refused before anything moves
    with pytest.raises(InvalidInput):
        await store.settle_hold("req-1", 400, owner.id, 360, _usage(buyer.id, 2, base))
    with pytest.raises(InvalidInput):
        await store.release_hold("req-1", _usage(buyer.id, 1, base, prompt_tokens=10**13))
    assert len(await store.list_open_holds()) == 3
    assert await store.recent_usage(buyer.id) == []

    row = _usage(owner.id, 1, base, cost_micro_usd=999_999)  # account and cost are the hold's
    assert not (await store.settle_hold("req-1", 400, owner.id, 360, row)).already_closed
    assert (await store.settle_hold("req-1", 400, owner.id, 360, row)).already_closed
    assert (await store.release_hold("req-1", row)).already_closed
    released = _usage(buyer.id, 2, base + timedelta(seconds=1), outcome="cancelled")
    assert not (await store.release_hold("req-2", released)).already_closed
    await store.settle_hold("req-3", 100)  # without a row, as before

    rows = await store.recent_usage(buyer.id)
    assert [(r.request_id, r.account_id, r.cost_micro_usd, r.outcome) for r in rows] == [
        ("req-2", buyer.id, 0, "cancelled"),
        ("req-1", buyer.id, 400, "ok"),
    ]
    assert await store.recent_usage(owner.id) == []
    assert (await store.get_account(buyer.id)).balance_micro_usd == 10_000 - 500
