"""Membership on the real NATS: replicas see each other, leave, lapse within 3 s when
their link dies, rejoin, restart under the same id; malformed heartbeats are ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio

from switchyard.cluster.membership import (
    CHECK_INTERVAL_S,
    LAPSE_S,
    Membership,
    MembershipChange,
    MembershipEvent,
)
from switchyard.cluster.transport import Transport
from switchyard.cluster.transport_open import open_transport
from tests.polling import wait_until

from .nats_proxy import nats_proxy


@asynccontextmanager
async def member(
    url: str, cluster: str, replica_id: str, **kwargs: object
) -> AsyncIterator[Membership]:
    async with open_transport(url, cluster=cluster, name=replica_id) as transport:
        membership = Membership(transport, replica_id, **kwargs)  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            await nursery.start(membership.run)
            try:
                yield membership
            finally:
                nursery.cancel_scope.cancel()


def live_ids(membership: Membership) -> set[str]:
    return {r.replica_id for r in membership.live_replicas()}


async def test_replicas_see_each_other_with_their_info(nats_url: str, cluster_name: str) -> None:
    async with AsyncExitStack() as stack:
        members = [
            await stack.enter_async_context(
                member(nats_url, cluster_name, f"r{i}", info=lambda i=i: {"providers": i})
            )
            for i in range(3)
        ]
        for m in members:
            await wait_until(lambda m=m: live_ids(m) == {"r0", "r1", "r2"})
        members[0].set_info("extra", [1, 2])
        members[0].url = "http://127.0.0.1:1234"  # sent at once, with the info
        seen = await wait_until(
            lambda: next((r for r in members[1].replicas() if r.replica_id == "r0" and r.url), None)
        )
        assert seen.info == {"extra": [1, 2], "providers": 0} and seen.live
        assert members[1].is_live("r2") and not members[1].is_live("nobody")
        assert members[0].live_replicas()[0].replica_id == "r0"  # itself first


async def test_a_clean_stop_is_seen_at_once(nats_url: str, cluster_name: str) -> None:
    async with member(nats_url, cluster_name, "stay", lapse_s=60.0) as stay:
        async with stay.events() as events:
            async with member(nats_url, cluster_name, "go"):
                await wait_until(lambda: stay.is_live("go"))
            # said goodbye: gone long before a 60 s lapse could drop it
            await wait_until(lambda: not stay.is_live("go"), timeout=10)
            changes = [events.receive_nowait(), events.receive_nowait()]
    assert [(e.change, e.replica_id) for e in changes] == [
        (MembershipChange.JOINED, "go"),
        (MembershipChange.LEFT, "go"),
    ]


async def test_a_silent_replica_lapses_within_three_seconds_and_rejoins(
    nats_url: str, cluster_name: str
) -> None:
    async with (
        nats_proxy(nats_url) as proxy,
        member(nats_url, cluster_name, "watcher") as watcher,
        member(proxy.url, cluster_name, "flaky") as flaky,
    ):
        await wait_until(lambda: watcher.is_live("flaky"))
        events: list[MembershipEvent] = []
        watcher.listen(events.append)
        proxy.cut()  # its heartbeats stop, like a replica killed with -9
        # Within LAPSE_S + one check of the last heartbeat (< 3 s by construction: see
        # test_the_lapse_bound_is_under_three_seconds); a loaded machine may stall longer.
        await wait_until(lambda: not watcher.is_live("flaky"), timeout=10)
        assert [e.change for e in events] == [MembershipChange.LAPSED]
        # the cut-off replica hears nobody either: only itself is left in its view
        await wait_until(lambda: live_ids(flaky) == {"flaky"}, timeout=5)
        proxy.restore()
        await wait_until(lambda: watcher.is_live("flaky"), timeout=10)
        await wait_until(lambda: live_ids(flaky) == {"flaky", "watcher"}, timeout=5)
        assert [e.change for e in events] == [MembershipChange.LAPSED, MembershipChange.JOINED]


async def test_a_restart_under_the_same_id_lapses_the_old_incarnation(
    nats_url: str, cluster_name: str
) -> None:
    async with member(nats_url, cluster_name, "watcher") as watcher:
        events: list[MembershipEvent] = []
        watcher.listen(events.append)
        async with nats_proxy(nats_url) as proxy:
            async with member(proxy.url, cluster_name, "phoenix") as first:
                await wait_until(lambda: watcher.is_live("phoenix"))
                proxy.cut()  # dies without a goodbye...
                async with member(nats_url, cluster_name, "phoenix") as second:  # ...and is back
                    await wait_until(lambda: len(events) == 3)
                    got = list(events)
        assert [(e.change, e.incarnation) for e in got] == [
            (MembershipChange.JOINED, first.incarnation),
            (MembershipChange.LAPSED, first.incarnation),
            (MembershipChange.JOINED, second.incarnation),
        ]


async def test_malformed_heartbeats_are_ignored(transport: Transport, nats_url: str) -> None:
    async with member(nats_url, transport.cluster, "calm") as calm:
        subject = transport.subject("members", "heartbeat")
        for junk in (
            b"not json",
            b"[1, 2]",
            b'{"id": "x"}',
            b'{"id": "bad id!", "incarnation": "i", "url": null, "started_at": 1, '
            b'"info": {}, "leaving": false}',
            b'{"id": "ok", "incarnation": "i", "url": 5, "started_at": 1, '
            b'"info": {}, "leaving": false}',
            b"x" * 20_000,
        ):
            transport.publish(subject, junk)
        await transport.flush()
        await wait_until(lambda: calm.malformed == 6)
        assert live_ids(calm) == {"calm"}


async def test_bad_replica_ids_are_refused(transport: Transport) -> None:
    for bad in ("", "a.b", "x" * 65, "sp ace"):
        with pytest.raises(ValueError):
            Membership(transport, bad)


def test_the_lapse_bound_is_under_three_seconds() -> None:
    """The issue's bound: a replica that stops heartbeating is dropped from every view
    within 3 s of its last heartbeat (the capacity mirror follows membership at once)."""
    assert LAPSE_S + CHECK_INTERVAL_S < 3.0
