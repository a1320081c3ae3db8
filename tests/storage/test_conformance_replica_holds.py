"""Conformance (both stores): holds carry their replica id; only a gone replica's open
holds are adopted, each by exactly one adopter, and released without unbalancing."""

from __future__ import annotations

import pytest
import trio

from switchyard.storage import HoldStatus, InvalidInput, Store

from .helpers import assert_balanced, balance, funded


async def _holds(store: Store, account: str, *pairs: tuple[str, str | None]) -> None:
    for request_id, replica in pairs:
        await store.create_hold(account, request_id, 1_000, replica_id=replica)


async def test_hold_records_its_replica(store: Store) -> None:
    acct = await funded(store, "alice", 10_000)
    hold = await store.create_hold(acct.id, "req-a", 1_000, replica_id="replica-a")
    assert hold.replica_id == "replica-a"
    assert (await store.get_hold("req-a")).replica_id == "replica-a"  # type: ignore[union-attr]
    plain = await store.create_hold(acct.id, "req-b", 1_000)
    assert plain.replica_id is None
    assert {h.replica_id for h in await store.list_open_holds()} == {"replica-a", None}
    with pytest.raises(InvalidInput):
        await store.create_hold(acct.id, "req-c", 1_000, replica_id="")


async def test_only_gone_replicas_are_adopted(store: Store) -> None:
    acct = await funded(store, "alice", 100_000)
    await store.replica_alive("live-heartbeat")
    await store.replica_alive("dead")
    await _holds(
        store, acct.id,
        ("r1", "dead"), ("r2", "live-member"), ("r3", "live-heartbeat"), ("r4", "me"),
        ("r5", None), ("r6", "never-seen"),
    )  # fmt: skip
    await store.settle_hold("r6", 0)  # closed holds are never adopted

    # "dead" renewed its heartbeat just now: nothing of it is touched yet
    assert await store.adopt_holds("me", stale_after_s=60, live=["live-member"], only="dead") == []
    await trio.sleep(0.05)
    adopted = await store.adopt_holds("me", stale_after_s=0, live=["live-member"], only="dead")
    assert [(h.request_id, h.replica_id) for h in adopted] == [("r1", "me")]
    assert (await store.get_hold("r1")).replica_id == "me"  # type: ignore[union-attr]

    # a sweep without `only` also takes holds placed outside a cluster, never the live ones
    await _holds(store, acct.id, ("r7", "gone-too"))
    await store.replica_alive("live-heartbeat")
    swept = await store.adopt_holds("me", stale_after_s=60, live=["live-member"])
    assert sorted(h.request_id for h in swept) == ["r5", "r7"]
    left = {h.request_id: h.replica_id for h in await store.list_open_holds()}
    assert left == {
        "r1": "me", "r2": "live-member", "r3": "live-heartbeat", "r4": "me", "r5": "me",
        "r7": "me",
    }  # fmt: skip
    # adopting twice adopts nothing twice
    assert await store.adopt_holds("me", stale_after_s=60, live=["live-member"]) == []

    for hold in swept + adopted:
        outcome = await store.release_hold(hold.request_id)
        assert outcome.hold.status is HoldStatus.RELEASED
    assert await balance(store, acct.id) == (100_000 - 3 * 1_000, 0)
    await assert_balanced(store)


async def test_concurrent_adopters_split_nothing(store: Store) -> None:
    acct = await funded(store, "bob", 1_000_000)
    await _holds(store, acct.id, *((f"req-{i}", "dead") for i in range(40)))
    results: dict[str, list[str]] = {}

    async def adopt(name: str) -> None:
        holds = await store.adopt_holds(name, stale_after_s=30, live=["a", "b", "c"])
        results[name] = [h.request_id for h in holds]

    async with trio.open_nursery() as nursery:
        for name in ("a", "b", "c"):
            nursery.start_soon(adopt, name)
    everything = [r for ids in results.values() for r in ids]
    assert sorted(everything) == sorted(f"req-{i}" for i in range(40))  # each exactly once
    owners = {h.request_id: h.replica_id for h in await store.list_open_holds()}
    for name, ids in results.items():
        assert all(owners[r] == name for r in ids)


async def test_forget_replicas_and_bad_input(store: Store) -> None:
    await store.replica_alive("old")
    assert await store.forget_replicas(3600) == 0
    await trio.sleep(0.05)
    assert await store.forget_replicas(0) == 1
    acct = await funded(store, "carol", 10_000)
    await _holds(store, acct.id, ("r1", "old"))
    # forgotten counts as gone
    assert [h.request_id for h in await store.adopt_holds("me", stale_after_s=60)] == ["r1"]
    for bad in (float("nan"), -1, 10**9, True, "5"):
        with pytest.raises(InvalidInput):
            await store.adopt_holds("me", stale_after_s=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await store.replica_alive("x" * 201)
    with pytest.raises(InvalidInput):
        await store.adopt_holds("", stale_after_s=1)
