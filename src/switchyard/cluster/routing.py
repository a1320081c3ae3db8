"""Cross-replica routing, opened once per replica: `open_routing`.

It spawns `/root/remote-providers` (`RemoteProviderActor`, the stand-in the scheduler
dispatches remote providers through) and runs, for as long as the block lasts, the
`StreamServer` (other replicas' requests on our providers), the `CapacityMirror` (their
providers in our scheduler) and the `CapacityPublisher` (ours in theirs). A replica the
mirror sees lapse ends the streams through it and cancels the requests it sent us.

Same-replica requests never touch any of this: a local provider's grant carries its own
actor's ref and no replica, so the relay dispatches to it directly, as without a cluster.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from ..runtime import ActorRef, ActorStopped, ActorSystem, AskTimeout, ChildSpec, MailboxFull
from .capacity import CapacityMirror, CapacityPublisher
from .membership import Membership, MembershipChange, MembershipEvent
from .remote_provider import RemoteProviderActor, ReplicaLapsed
from .stream_server import StreamServer
from .transport import Transport

log = logging.getLogger(__name__)

PROXY_NAME = "remote-providers"


@dataclass
class Routing:
    """The running pieces (for inspection and tests)."""

    proxy: ActorRef
    server: StreamServer
    mirror: CapacityMirror
    publisher: CapacityPublisher

    def describe(self) -> dict[str, Any]:
        """Counters for /admin/cluster."""
        return {
            "replicas_seen": self.mirror.live(),
            "snapshots_published": self.publisher.published,
            "snapshots_rejected": self.mirror.rejected,
            "replicas_lapsed": self.mirror.lapsed,
            "serving_remote": len(self.server.active),
            "server": dict(self.server.counters),
        }


@asynccontextmanager
async def open_routing(
    system: ActorSystem,
    transport: Transport,
    replica_id: str,
    *,
    lapse_s: float = 3.0,
    membership: Membership | None = None,
) -> AsyncIterator[Routing]:
    """Route requests across the cluster while the block runs (module docstring); a
    replica `membership` reports lapsed or left is dropped at once."""
    spec = ChildSpec(
        PROXY_NAME, lambda: RemoteProviderActor(transport, replica_id), mailbox_size=100_000
    )
    proxy = await system.spawn(spec)
    scheduler = system.lookup("/root/scheduler")
    server = StreamServer(transport, scheduler, replica_id)

    def lapsed(replica: str) -> None:
        with contextlib.suppress(MailboxFull):
            proxy.tell(ReplicaLapsed(replica))

    mirror = CapacityMirror(
        transport, scheduler, proxy, replica_id, on_lapse=[lapsed, server.origin_lapsed],
        lapse_s=lapse_s,
    )  # fmt: skip
    # A full snapshot at least thrice per lapse period: a live replica whose capacity does
    # not change never looks silent to peers (who share the same `lapse_s`).
    publisher = CapacityPublisher(
        transport, scheduler, replica_id, full_every_s=min(1.0, lapse_s / 3)
    )

    def on_member(event: MembershipEvent) -> None:
        if event.change in (MembershipChange.LAPSED, MembershipChange.LEFT):
            mirror.forget(event.replica_id, f"membership: {event.change}")

    unlisten = membership.listen(on_member) if membership is not None else None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            await nursery.start(mirror.run)
            nursery.start_soon(publisher.run)
            yield Routing(proxy, server, mirror, publisher)
            nursery.cancel_scope.cancel()
    finally:
        if unlisten is not None:
            unlisten()
        with trio.CancelScope(shield=True):
            try:
                await system.stop(proxy.path)
            except (ActorStopped, AskTimeout) as exc:
                log.warning("remote-providers did not stop cleanly: %s", exc)


__all__ = ["PROXY_NAME", "Routing", "open_routing"]
