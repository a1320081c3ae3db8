"""The cluster-wide capacity view: publish our providers, mirror everyone else's.

- `CapacityPublisher`: every `interval_s` (150 ms) it asks the scheduler whether the local
  providers changed (`LocalCapacityQuery`, answered without work when they did not) and
  publishes a full snapshot of them on `capacity.<replica>` when they did, and at least
  every `full_every_s` (1 s) anyway, so a newcomer learns everything within a second and
  the others can tell this replica is alive. A snapshot is one message (at most
  `MAX_CLUSTER_PROVIDERS` providers), so at most ~7 per second per replica. On a clean
  exit it publishes an empty one: the others drop its providers at once.
- `CapacityMirror`: subscribes to every replica's snapshots, sizes each remote provider
  for this viewer (`offered_slots`) and tells the scheduler `RemoteCapacity`. A replica
  whose snapshots stop for `lapse_s` (3 s), which restarted (a new `epoch`), or which
  membership reports lapsed or left (`forget`), lapses: the scheduler is told
  `ReplicaGone` and every `on_lapse` callback runs (the remote streams through it end;
  requests it sent us are cancelled).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from ..actors.scheduler_messages import CapacityUpdate, ModelCapacity
from ..actors.scheduler_remote import (
    LocalCapacity,
    LocalCapacityQuery,
    OfferedProvider,
    RemoteCapacity,
    ReplicaGone,
    offered_slots,
)
from ..protocol.limits import MAX_CLUSTER_REPLICAS
from ..runtime import ActorRef, ActorStopped, AskTimeout, MailboxFull
from .errors import TransportError
from .routing_wire import Snapshot, WireError, dump_snapshot, load_snapshot
from .transport import Transport

log = logging.getLogger(__name__)

ASK_TIMEOUT_S = 5.0


@dataclass
class CapacityPublisher:
    """Publishes this replica's providers (see the module docstring)."""

    transport: Transport
    scheduler: ActorRef
    replica_id: str
    interval_s: float = 0.15
    full_every_s: float = 1.0
    epoch: str = field(default_factory=lambda: secrets.token_hex(6))
    published: int = 0
    _seq: int = 0

    async def run(self) -> None:
        subject = self.transport.subject("capacity", self.replica_id)
        version = -1
        providers: list[OfferedProvider] = []
        sent: list[OfferedProvider] | None = None
        last = -math.inf
        try:
            while True:
                try:
                    local = await self.scheduler.ask(LocalCapacityQuery(version), ASK_TIMEOUT_S)
                except (ActorStopped, AskTimeout):
                    local = None  # restarting: publish what we had, try again next tick
                if isinstance(local, LocalCapacity):
                    version, providers = local.version, local.providers
                now = trio.current_time()
                if providers != sent or now - last >= self.full_every_s:
                    self._publish(subject, providers)
                    sent, last = providers, now
                await trio.sleep(self.interval_s)
        finally:
            self._publish(subject, [])  # leaving: the others drop our providers now

    def _publish(self, subject: str, providers: list[OfferedProvider]) -> None:
        data = dump_snapshot(self.replica_id, self.epoch, self._seq, providers)
        self._seq += 1
        try:
            self.transport.publish(subject, data)
            self.published += 1
        except TransportError as exc:
            log.warning("capacity snapshot not published: %s", exc)


@dataclass
class _Seen:
    epoch: str
    seq: int
    at: float


@dataclass
class CapacityMirror:
    """Keeps the scheduler's view of the other replicas' providers (module docstring)."""

    transport: Transport
    scheduler: ActorRef
    proxy: ActorRef  # the ref remote providers are dispatched through
    replica_id: str
    on_lapse: list[Callable[[str], None]] = field(default_factory=list)
    lapse_s: float = 3.0
    replicas: dict[str, _Seen] = field(default_factory=dict)
    rejected: int = 0  # snapshots that did not parse
    lapsed: int = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        subject = self.transport.subject("capacity", "*")
        async with self.transport.subscribe(subject, buffer=1024) as snapshots:
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._expire_loop)
                async for message in snapshots:
                    await self._on_snapshot(message.data)

    def live(self) -> list[str]:
        """The other replicas whose snapshots are current."""
        return sorted(self.replicas)

    async def _on_snapshot(self, data: bytes) -> None:
        try:
            snapshot = load_snapshot(data)
        except WireError as exc:
            self.rejected += 1
            log.warning("%s", exc)
            return
        replica = snapshot.replica
        if replica == self.replica_id:
            return
        seen = self.replicas.get(replica)
        if seen is not None and seen.epoch != snapshot.epoch:
            self.forget(replica, "restarted")
            seen = None
        if seen is not None and snapshot.seq <= seen.seq:
            return  # an older publication overtaken by a newer one
        if seen is None and len(self.replicas) >= MAX_CLUSTER_REPLICAS:
            self.rejected += 1
            log.warning(
                "more than %d replicas publish capacity; %s ignored", len(self.replicas), replica
            )
            return
        self.replicas[replica] = _Seen(snapshot.epoch, snapshot.seq, trio.current_time())
        await self.scheduler.send(RemoteCapacity(replica, self._updates(snapshot)))

    def _updates(self, snapshot: Snapshot) -> list[CapacityUpdate]:
        me = self.replica_id
        return [
            CapacityUpdate(
                provider.provider_id,
                self.proxy,
                provider.trust,
                provider.routable,
                {
                    name: _sized(model.capacity, offered_slots(model, me))
                    for name, model in provider.models.items()
                },
                replica=snapshot.replica,
            )
            for provider in snapshot.offered()
        ]

    async def _expire_loop(self) -> None:
        while True:
            await trio.sleep(self.lapse_s / 6)
            cutoff = trio.current_time() - self.lapse_s
            for replica in [r for r, seen in self.replicas.items() if seen.at < cutoff]:
                self.forget(replica, f"silent for {self.lapse_s:g} s")

    def forget(self, replica: str, why: str) -> None:
        """`replica` lapsed or left: drop its providers, run the `on_lapse` callbacks."""
        log.warning("replica %s lapsed (%s): dropping its providers and streams", replica, why)
        self.replicas.pop(replica, None)
        self.lapsed += 1
        try:
            self.scheduler.tell(ReplicaGone(replica))
        except MailboxFull:
            log.error("scheduler full: replica %s's providers stay until its next lapse", replica)
        for callback in self.on_lapse:
            callback(replica)


def _sized(capacity: ModelCapacity, slots: int) -> ModelCapacity:
    return ModelCapacity(
        slots,
        capacity.prefill_tps,
        capacity.decode_tps,
        capacity.context_length,
        capacity.lacking,
        capacity.able,
    )


__all__ = ["CapacityMirror", "CapacityPublisher"]
