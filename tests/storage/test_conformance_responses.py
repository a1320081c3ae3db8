"""Conformance (both stores): stored responses — per account, expiry, eviction bounds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from switchyard.storage import Conflict, InvalidInput, Store, UnknownAccount
from switchyard.storage.models import utc_now
from switchyard.storage.stored_responses import StoredResponse

from ..polling import wait_until

LOTS = 1_000_000


def record(
    response_id: str, account_id: str, *, age_s: float = 0, ttl_s: float = 3600, text: str = "hi"
) -> StoredResponse:
    created = utc_now() - timedelta(seconds=age_s)
    conversation: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": text},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "€"}]},
    ]
    return StoredResponse(
        id=response_id,
        account_id=account_id,
        conversation=conversation,
        response={"id": response_id, "object": "response", "output": conversation[1:]},
        created_at=created,
        expires_at=created + timedelta(seconds=ttl_s),
    )


async def test_put_get_delete_per_account(store: Store) -> None:
    alice = await store.create_account("alice")
    bob = await store.create_account("bob")
    stored = record("resp_1", alice.id)
    await store.put_response(stored, max_count=10, max_bytes=LOTS)
    got = await store.get_response(alice.id, "resp_1")
    assert got is not None
    assert (got.id, got.account_id, got.conversation, got.response) == (
        stored.id, stored.account_id, stored.conversation, stored.response,
    )  # fmt: skip
    assert got.expires_at == stored.expires_at and got.size_bytes == stored.size_bytes
    assert got.input_items == stored.conversation[:1]  # without its own output
    assert await store.get_response(bob.id, "resp_1") is None
    assert await store.delete_response(bob.id, "resp_1") is False
    assert await store.get_response(alice.id, "resp_missing") is None
    with pytest.raises(Conflict):
        await store.put_response(record("resp_1", bob.id), max_count=10, max_bytes=LOTS)
    with pytest.raises(UnknownAccount):
        await store.put_response(record("resp_2", "acct_missing"), max_count=10, max_bytes=LOTS)
    with pytest.raises(InvalidInput):
        await store.put_response(record("resp_3", alice.id, ttl_s=-1), max_count=1, max_bytes=1)
    assert await store.delete_response(alice.id, "resp_1") is True
    assert await store.get_response(alice.id, "resp_1") is None
    assert await store.delete_response(alice.id, "resp_1") is False


async def test_expired_responses_are_absent_and_deleted(store: Store) -> None:
    alice = await store.create_account("alice")
    await store.put_response(record("old", alice.id, age_s=7200), max_count=10, max_bytes=LOTS)
    assert await store.get_response(alice.id, "old") is None
    assert await store.delete_response(alice.id, "old") is False
    soon = record("soon", alice.id, age_s=3599.8)  # expires 0.2 s from now
    await store.put_response(soon, max_count=10, max_bytes=LOTS)
    await store.put_response(record("fresh", alice.id), max_count=10, max_bytes=LOTS)
    purged = 0

    async def soon_purged() -> bool:
        nonlocal purged
        purged += await store.purge_expired_responses()
        return purged > 0

    await wait_until(soon_purged, timeout=5)
    assert purged == 1 and await store.purge_expired_responses() == 0
    assert await store.get_response(alice.id, "fresh") is not None
    assert await store.get_response(alice.id, "soon") is None


async def test_an_account_keeps_its_newest_responses_within_both_bounds(store: Store) -> None:
    alice = await store.create_account("alice")
    bob = await store.create_account("bob")
    await store.put_response(record("bob_1", bob.id), max_count=1, max_bytes=LOTS)
    for i in range(5):
        stored = record(f"a{i}", alice.id, age_s=10 - i)
        await store.put_response(stored, max_count=3, max_bytes=LOTS)
    kept = [i for i in range(5) if await store.get_response(alice.id, f"a{i}") is not None]
    assert kept == [2, 3, 4]
    assert await store.get_response(bob.id, "bob_1") is not None  # other accounts untouched

    size = record("ax", alice.id).size_bytes  # as big as each a{i}
    big = record("big", alice.id, text="y" * 100)
    await store.put_response(big, max_count=10, max_bytes=big.size_bytes + 2 * size)
    kept = [i for i in range(5) if await store.get_response(alice.id, f"a{i}") is not None]
    assert kept == [3, 4] and await store.get_response(alice.id, "big") is not None
    huge = record("huge", alice.id, text="z" * 1000)
    await store.put_response(huge, max_count=10, max_bytes=huge.size_bytes - 1)
    assert await store.get_response(alice.id, "huge") is None  # alone over the bound
    assert await store.get_response(alice.id, "a4") is None
