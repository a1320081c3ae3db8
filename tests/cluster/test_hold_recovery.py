"""HoldRecovery on both stores: only gone replicas' holds are released, each by exactly
one survivor; a live replica's in-flight holds (even one cut off from NATS) are never
touched; start-up releases only a previous run's own holds; the ledger balances."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from switchyard.actors.billing import recover_open_holds
from switchyard.cluster.hold_recovery import HoldRecovery
from switchyard.storage import HoldStatus, Store, open_store
from tests.polling import wait_until
from tests.storage.helpers import StoreTarget, assert_balanced, balance, funded


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest) -> StoreTarget:
    if request.param == "memory":
        return StoreTarget(None, None)
    return StoreTarget(request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema"))


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    async with open_store(store_target.url, schema=store_target.schema) as opened:
        yield opened


def _recovery(store: Store, name: str, live: set[str]) -> HoldRecovery:
    return HoldRecovery(store, name, lambda: live, lapse_s=0.3, heartbeat_s=0.1, sweep_s=0.2)


async def test_survivors_release_a_gone_replicas_holds_once(store: Store) -> None:
    acct = await funded(store, "alice", 1_000_000)
    for i in range(30):
        await store.create_hold(acct.id, f"dead-{i}", 1_000, replica_id="dead")
    for name in ("a", "b", "cut-off"):
        await store.create_hold(acct.id, f"{name}-inflight", 1_000, replica_id=name)
    await store.replica_alive("dead")  # it was alive once
    live = {"a", "b"}  # "cut-off" lost NATS but still writes to the store
    a, b = _recovery(store, "a", live), _recovery(store, "b", live)
    cut_off = _recovery(store, "cut-off", {"cut-off"})
    async with trio.open_nursery() as nursery:
        for recovery in (a, b, cut_off):
            await nursery.start(recovery.run)

        async def released_all() -> bool:
            open_ids = {h.request_id for h in await store.list_open_holds()}
            return not any(r.startswith("dead-") for r in open_ids)

        await wait_until(released_all, timeout=10)
        await trio.sleep(0.5)  # a few more sweeps of all three: nothing else is touched
        nursery.cancel_scope.cancel()
    assert a.recovered + b.recovered + cut_off.recovered == 30  # exactly once each
    left = {h.request_id: h.replica_id for h in await store.list_open_holds()}
    assert left == {"a-inflight": "a", "b-inflight": "b", "cut-off-inflight": "cut-off"}
    for i in range(30):
        hold = await store.get_hold(f"dead-{i}")
        assert hold is not None and hold.status is HoldStatus.RELEASED
    assert await balance(store, acct.id) == (1_000_000 - 3_000, 0)
    await assert_balanced(store)


async def test_lapse_releases_at_once_and_startup_touches_only_its_own(store: Store) -> None:
    acct = await funded(store, "bob", 100_000)
    await store.create_hold(acct.id, "mine-before-restart", 1_000, replica_id="a")
    await store.create_hold(acct.id, "b-live", 1_000, replica_id="b")
    await store.create_hold(acct.id, "c-gone", 1_000, replica_id="c")
    assert await recover_open_holds(store, "a") == 1  # its own previous run only
    assert {h.request_id for h in await store.list_open_holds()} == {"b-live", "c-gone"}

    live = {"a", "b", "c"}
    a = HoldRecovery(store, "a", lambda: live, lapse_s=0.1, sweep_s=3600)
    assert await a.replica_lapsed("a") == 0
    assert await a.replica_lapsed("c") == 0  # still in the live set
    live.discard("c")
    await trio.sleep(0.15)  # c's store heartbeat (it never had one) is older than a lapse
    assert await a.replica_lapsed("c") == 1
    assert await a.replica_lapsed("c") == 0
    assert [h.request_id for h in await store.list_open_holds()] == ["b-live"]
    await assert_balanced(store)
    # single process: start-up releases everything
    assert await recover_open_holds(store) == 1


async def test_a_replica_that_cannot_see_the_cluster_adopts_nothing(store: Store) -> None:
    """Started while NATS is unreachable (or cut off now), a replica's live set is only
    itself: it must not take the holds of a replica it merely cannot see, even one whose
    store heartbeat is late, until its view is complete again."""
    acct = await funded(store, "carol", 100_000)
    await store.create_hold(acct.id, "a-inflight", 1_000, replica_id="a")
    await store.create_hold(acct.id, "gone-open", 1_000, replica_id="gone")
    await store.create_hold(acct.id, "b-unreleased", 1_000, replica_id="b")
    complete = False
    live = {"b"}
    b = HoldRecovery(store, "b", lambda: live, complete=lambda: complete, lapse_s=0.1)
    b._unreleased.add("b-unreleased")  # adopted earlier, its release failed then
    await trio.sleep(0.15)  # neither "a" nor "gone" has a fresh store heartbeat
    assert await b.sweep() == 1  # only the retry of what it had already adopted
    assert await b.replica_lapsed("a") == 0 and await b.replica_lapsed("gone") == 0
    assert {h.request_id for h in await store.list_open_holds()} == {"a-inflight", "gone-open"}

    complete, live = True, {"a", "b"}  # NATS is back: "a" heartbeats there
    assert await b.sweep() == 1
    assert [h.request_id for h in await store.list_open_holds()] == ["a-inflight"]
    await assert_balanced(store)
