"""The scheduler's side of a cluster: remote providers in the indexes, confirmations.

Every replica's scheduler indexes its local providers (told by their actors) and the
providers of the other replicas (told by `cluster/capacity.py` from their published
snapshots) side by side: a remote provider is an ordinary `ProviderEntry` tagged with
its owning `replica`, whose ref is this replica's remote-dispatch proxy. A `Reserve` may
thus pick a remote slot; the grant here is only tentative: the owning replica's scheduler
stays the one authority on that provider's slots and confirms it (`ReserveOn`, asked by
`cluster/stream_server.py` on the owner) or refuses, and the relay then tries another
candidate.

Messages:
- `LocalCapacityQuery(since)` → `LocalCapacity` (this replica's own providers, with their
  slots in use and how many of those were confirmed for each other replica), or None when
  nothing changed since version `since`.
- `RemoteCapacity(replica, updates)`: the whole set of `replica`'s providers, already
  sized for this viewer (slots used by third parties taken off); providers of that
  replica missing from it are dropped. A provider connected here is never overwritten by
  a remote copy (an agent that just failed over may still be in the old owner's snapshot).
- `ReplicaGone(replica)`: drop every provider of that replica (it lapsed).
- `ReserveOn(provider_id, reserve, origin)` → `Reservation` | `NoCapacity`: a slot on that
  one local provider, for a request of replica `origin`; never queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from ..protocol.vocabulary import Trust
from .scheduler_messages import (
    CapacityUpdate,
    GrantLost,
    ModelCapacity,
    NoCapacity,
    NoCapacityReason,
    ProviderGone,
    Release,
    Reserve,
)

if TYPE_CHECKING:
    from .scheduler import SchedulerActor
    from .scheduler_index import CapacityIndex
    from .scheduler_slots import ModelSlot


@dataclass(frozen=True, slots=True)
class OfferedModel:
    """One model of a local provider as published: capacity and the slots in use."""

    capacity: ModelCapacity
    in_use: int  # every live reservation on it, whoever asked
    by_origin: dict[str, int]  # of which confirmed for requests of these other replicas


@dataclass(frozen=True, slots=True)
class OfferedProvider:
    """One local provider as published to the other replicas."""

    provider_id: str
    trust: Trust
    routable: bool
    models: dict[str, OfferedModel]


@dataclass(frozen=True, slots=True)
class LocalCapacityQuery:
    """→ `LocalCapacity`, or None when the version is still `since`."""

    since: int = -1


@dataclass(frozen=True, slots=True)
class LocalCapacity:
    """This replica's own providers at scheduler version `version`."""

    version: int
    providers: list[OfferedProvider]


@dataclass(frozen=True, slots=True)
class RemoteCapacity:
    """All providers of `replica` (see the module docstring)."""

    replica: str
    updates: list[CapacityUpdate]


@dataclass(frozen=True, slots=True)
class ReplicaGone:
    """`replica` lapsed: forget its providers (their tentative reservations die too)."""

    replica: str


@dataclass(frozen=True, slots=True)
class ReserveOn:
    """Confirm a slot on the local provider `provider_id` for a request of `origin`."""

    provider_id: str
    reserve: Reserve
    origin: str


#: The messages `on_cluster_message` handles.
CLUSTER_MESSAGES = (ReserveOn, LocalCapacityQuery, RemoteCapacity, ReplicaGone)
#: Messages after which the local providers' published capacity may have changed.
CHANGES_LOCAL = (Reserve, ReserveOn, Release, CapacityUpdate, ProviderGone, GrantLost)


def offered_slots(model: OfferedModel, viewer: str) -> int:
    """Slots of a remote provider's model that `viewer` may count on: the total less what
    is in use for anyone but the viewer (whose own reservations its scheduler counts)."""
    others = model.in_use - model.by_origin.get(viewer, 0)
    return max(0, model.capacity.slots - max(0, others))


class ClusterLedger:
    """Per-origin counts of the confirmed reservations on local slots (owner side)."""

    def __init__(self) -> None:
        self.origin_of: dict[str, tuple[str, str, str]] = {}  # rsv → (provider, model, origin)
        self.use: dict[tuple[str, str], dict[str, int]] = {}

    def add(self, reservation_id: str, provider_id: str, model: str, origin: str) -> None:
        self.origin_of[reservation_id] = (provider_id, model, origin)
        counts = self.use.setdefault((provider_id, model), {})
        counts[origin] = counts.get(origin, 0) + 1

    def drop(self, reservation_id: str) -> None:
        entry = self.origin_of.pop(reservation_id, None)
        if entry is None:
            return
        provider_id, model, origin = entry
        counts = self.use[provider_id, model]
        left = counts[origin] - 1
        if left:
            counts[origin] = left
        else:
            del counts[origin]
            if not counts:
                del self.use[provider_id, model]

    def by_origin(self, provider_id: str, model: str) -> dict[str, int]:
        return dict(self.use.get((provider_id, model), {}))


def local_snapshot(index: CapacityIndex, ledger: ClusterLedger) -> list[OfferedProvider]:
    """The local providers of `index` as `OfferedProvider`s."""
    out: list[OfferedProvider] = []
    for provider in index.providers.values():
        if provider.replica is not None:
            continue
        models = {
            name: OfferedModel(
                ModelCapacity(
                    slots=slot.slots,
                    prefill_tps=slot.prefill_tps,
                    decode_tps=slot.decode_tps,
                    context_length=slot.context_length,
                    lacking=slot.lacking,
                    able=slot.able,
                ),
                in_use=slot.in_use,
                by_origin=ledger.by_origin(provider.provider_id, name),
            )
            for name, slot in provider.models.items()
            if slot.slots > 0
        }
        out.append(OfferedProvider(provider.provider_id, provider.trust, provider.routable, models))
    return out


def confirmable(index: CapacityIndex, msg: ReserveOn) -> ModelSlot | NoCapacity:
    """The local slot `msg` asks for if it can be granted right now, else why not."""
    provider = index.providers.get(msg.provider_id)
    reserve = msg.reserve
    if provider is None or provider.replica is not None or not provider.routable:
        return NoCapacity(NoCapacityReason.OFFLINE, 1.0)
    slot = provider.models.get(reserve.model)
    if slot is None or slot.slots <= 0:
        return NoCapacity(NoCapacityReason.OFFLINE, 1.0)
    if provider.trust < Trust.parse(reserve.min_trust):
        return NoCapacity(NoCapacityReason.TRUST, 1.0)
    if reserve.needs and not reserve.needs.isdisjoint(slot.lacking):
        return NoCapacity(NoCapacityReason.CAPABILITY, 1.0)
    if slot.context_length is not None and slot.context_length < reserve.min_context:
        return NoCapacity(NoCapacityReason.CONTEXT, 1.0)
    if slot.free <= 0:
        return NoCapacity(NoCapacityReason.TIMEOUT, 1.0)
    return slot


def on_cluster_message(sched: SchedulerActor, msg: Any) -> Any:
    """The SchedulerActor's handling of the cluster messages (see the module docstring)."""
    match msg:
        case ReserveOn():
            _reserve_on(sched, msg)
        case LocalCapacityQuery(since=since):
            if since == sched.local_version:
                return None
            return LocalCapacity(sched.local_version, local_snapshot(sched.index, sched.ledger))
        case RemoteCapacity():
            _remote_capacity(sched, msg)
        case ReplicaGone(replica=replica):
            for provider_id in _providers_of(sched, replica):
                sched.provider_gone(provider_id)
    return None


def _reserve_on(sched: SchedulerActor, msg: ReserveOn) -> None:
    reply = sched.defer()
    found = confirmable(sched.index, msg)
    if isinstance(found, NoCapacity):
        sched.counters["confirm_refused"] += 1
        reply.set(found)
        return
    sched.counters["confirmed"] += 1
    reservation_id = sched.grant(reply, found)
    sched.ledger.add(reservation_id, msg.provider_id, msg.reserve.model, msg.origin)


def _remote_capacity(sched: SchedulerActor, msg: RemoteCapacity) -> None:
    now = trio.current_time()
    listed = set()
    for update in msg.updates:
        current = sched.index.providers.get(update.provider_id)
        if current is not None and current.replica != msg.replica:
            continue  # connected here (the local actor is the truth) or owned elsewhere
        listed.add(update.provider_id)
        for model in set(sched.index.upsert(update, now)):
            sched.capacity_changed(model)
    for provider_id in _providers_of(sched, msg.replica):
        if provider_id not in listed:
            sched.provider_gone(provider_id)


def _providers_of(sched: SchedulerActor, replica: str) -> list[str]:
    return [p.provider_id for p in sched.index.providers.values() if p.replica == replica]


def describe_remote(index: CapacityIndex) -> dict[str, Any]:
    """Providers indexed per owning replica (local ones under "local")."""
    counts: dict[str, int] = {}
    for provider in index.providers.values():
        key = provider.replica or "local"
        counts[key] = counts.get(key, 0) + 1
    return counts


__all__ = [
    "CHANGES_LOCAL",
    "CLUSTER_MESSAGES",
    "ClusterLedger",
    "LocalCapacity",
    "LocalCapacityQuery",
    "OfferedModel",
    "OfferedProvider",
    "RemoteCapacity",
    "ReplicaGone",
    "ReserveOn",
    "confirmable",
    "describe_remote",
    "local_snapshot",
    "offered_slots",
    "on_cluster_message",
]
