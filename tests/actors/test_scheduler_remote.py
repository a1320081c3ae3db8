"""The scheduler in a cluster: remote providers beside local ones, confirmations, snapshots."""

from __future__ import annotations

import trio

from switchyard.actors.scheduler_messages import (
    CapacityUpdate,
    ModelCapacity,
    NoCapacity,
    NoCapacityReason,
    Reservation,
    Reserve,
)
from switchyard.actors.scheduler_remote import (
    LocalCapacity,
    LocalCapacityQuery,
    OfferedModel,
    RemoteCapacity,
    ReplicaGone,
    ReserveOn,
    offered_slots,
)
from switchyard.protocol.vocabulary import Trust

from .sched_harness import Harness, running_scheduler


def remote(h: Harness, provider_id: str, slots: int = 2, model: str = "m") -> CapacityUpdate:
    return CapacityUpdate(
        provider_id,
        h.provider_ref,
        Trust.SELF_SIGNED,
        True,
        {model: ModelCapacity(slots)},
        replica="rep-b",
    )


def reserve_on(provider_id: str, origin: str = "rep-a", model: str = "m") -> ReserveOn:
    reserve = Reserve(model, 10, 10, deadline=trio.current_time())
    return ReserveOn(provider_id, reserve, origin)


async def local_capacity(h: Harness, since: int = -1) -> LocalCapacity | None:
    return await h.sched.ask(LocalCapacityQuery(since))


async def test_a_remote_provider_is_granted_with_its_replica() -> None:
    async with running_scheduler() as h:
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "far")]))
        grant = await h.grant()
        assert (grant.provider_id, grant.replica, grant.provider_ref) == (
            "far",
            "rep-b",
            h.provider_ref,
        )
        assert (await h.models())["m"]["providers_online"] == 1
        stats = await h.stats()
        assert stats["providers_by_replica"] == {"rep-b": 1}


async def test_a_local_grant_has_no_replica() -> None:
    async with running_scheduler() as h:
        await h.offer("near")
        grant = await h.grant()
        assert grant.replica is None


async def test_a_snapshot_without_a_provider_drops_it_and_a_lapse_drops_all() -> None:
    async with running_scheduler() as h:
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "x"), remote(h, "y")]))
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "y")]))
        assert (await h.stats())["providers_known"] == 1
        held = await h.grant()
        assert held.provider_id == "y"
        await h.sched.send(ReplicaGone("rep-b"))
        refused = await h.reserve()
        assert isinstance(refused, NoCapacity)
        assert refused.reason == NoCapacityReason.OFFLINE
        stats = await h.stats()
        assert stats["providers_known"] == 0
        assert stats["reserved_total"] == 0  # the tentative grant died with its replica
        h.release(held)
        await h.until_counter("release_unknown", 1)


async def test_a_connected_provider_is_not_overwritten_by_a_remote_copy() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=1)
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "p", slots=5)]))
        grant = await h.grant()
        assert grant.replica is None
        assert isinstance(await h.reserve(), NoCapacity)  # still the local single slot


async def test_a_waiter_is_served_when_remote_capacity_appears() -> None:
    async with running_scheduler() as h:
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "far", slots=1)]))
        first = await h.grant()
        async with trio.open_nursery() as nursery:
            results: list[object] = []

            async def wait() -> None:
                results.append(await h.reserve(wait=5.0))

            nursery.start_soon(wait)
            await h.until_queued(1)
            await h.sched.send(RemoteCapacity("rep-b", [remote(h, "far", slots=2)]))
        assert isinstance(results[0], Reservation)
        assert results[0].replica == "rep-b"
        h.release(first)


async def test_reserve_on_confirms_a_free_slot_and_counts_its_origin() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=2)
        confirmed = await h.sched.ask(reserve_on("p"))
        assert isinstance(confirmed, Reservation)
        snapshot = await local_capacity(h)
        assert snapshot is not None
        (offered,) = snapshot.providers
        model = offered.models["m"]
        assert (model.in_use, model.by_origin) == (1, {"rep-a": 1})
        assert offered_slots(model, "rep-a") == 2  # its own confirmation is counted by rep-a
        assert offered_slots(model, "rep-c") == 1
        h.release(confirmed)
        await h.until_counter("released", 1)
        after = await local_capacity(h)
        assert after is not None
        assert after.providers[0].models["m"].by_origin == {}
        assert after.providers[0].models["m"].in_use == 0


async def test_reserve_on_refuses_a_full_unknown_or_remote_provider() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=1)
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "far")]))
        local = await h.grant(exclude=["far"])
        full = await h.sched.ask(reserve_on("p"))
        assert isinstance(full, NoCapacity)
        assert full.reason == NoCapacityReason.TIMEOUT
        for provider_id in ("nobody", "far"):  # only the owner confirms its providers
            refused = await h.sched.ask(reserve_on(provider_id))
            assert isinstance(refused, NoCapacity)
            assert refused.reason == NoCapacityReason.OFFLINE
        assert (await h.stats())["counters"]["confirm_refused"] == 3
        h.release(local)


async def test_local_capacity_is_none_while_nothing_changed() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=1)
        first = await local_capacity(h)
        assert first is not None
        assert await local_capacity(h, first.version) is None
        grant = await h.grant()
        changed = await local_capacity(h, first.version)
        assert changed is not None
        assert changed.providers[0].models["m"].in_use == 1
        h.release(grant)


async def test_remote_providers_are_not_published_as_local() -> None:
    async with running_scheduler() as h:
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "far")]))
        snapshot = await local_capacity(h)
        assert snapshot is not None
        assert snapshot.providers == []


def test_offered_slots_never_goes_negative() -> None:
    model = OfferedModel(ModelCapacity(2), in_use=5, by_origin={"a": 1})
    assert offered_slots(model, "a") == 0
    assert offered_slots(OfferedModel(ModelCapacity(3), 1, {"a": 1}), "a") == 3


async def test_an_equally_good_local_provider_wins_over_a_remote_one() -> None:
    async with running_scheduler() as h:
        await h.offer("near", slots=4)
        await h.sched.send(RemoteCapacity("rep-b", [remote(h, "far", slots=4)]))
        for _ in range(5):  # both idle: beyond the 5 % tie band, the local one always wins
            grant = await h.grant()
            assert grant.provider_id == "near"
            h.release(grant)
        first = await h.grant()
        second = await h.grant()  # near is busier now: the remote one is cheaper
        assert (first.provider_id, second.provider_id) == ("near", "far")
        h.release(first)
        h.release(second)
