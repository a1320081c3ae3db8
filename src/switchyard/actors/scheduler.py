"""SchedulerActor: the capacity view of all providers, reservations, and the wait queues.

Provider actors tell it `CapacityUpdate` / `ProviderGone`; request handlers ask `Reserve`
and tell `Release` exactly once per granted `Reservation` (see scheduler_messages.py).

- Selection uses the per-model candidate heaps of `scheduler_index.py` (cost model there):
  a Reserve never scans every provider.
- Every Reserve is answered through a deferred reply set with `on_lost`, so a reservation
  granted to an asker that already gave up (timeout, cancellation) comes straight back as
  a `GrantLost` message: slots are never leaked.
- Waiting: when eligible providers are online but none has a free slot, the Reserve waits
  in its model's FIFO (bounded by `queue_limit`; overflow is an immediate
  `NoCapacity(queue_full=True)`) until capacity appears or its deadline passes
  (`NoCapacity("timeout")`). One `send_after` timer is armed for the earliest deadline
  only. A Reserve no online provider could ever serve (unknown model, nobody online, a
  needed capability or context length nobody has, trust floor unmet, all excluded) is
  answered at once, and a waiter when its last eligible provider leaves.
- FIFO rule: whenever capacity may have grown (Release, CapacityUpdate, a grant coming
  back) the model's queue is walked from its head and each waiter is granted the best slot
  *it* may use. A waiter that no free slot can serve (its trust floor is above every free
  slot, the free slots are on providers it excludes or lack what it needs) does not block
  the ones behind it. So after every message no waiting Reserve could be served, and a new
  Reserve takes a free slot directly only when no earlier waiter could have used it.
- Invariant: `reserved_total` equals the number of live reservations; after every grant is
  released (or its provider gone) it is 0.
- In a cluster, remote providers sit in the same indexes tagged with their replica, and a
  grant on one is confirmed by its owner (`scheduler_remote.py`).
- On stop (crash or shutdown) every waiting Reserve fails with `ActorStopped`. A restarted
  scheduler starts empty; provider actors re-push their capacity when they notice it
  restarted, and Releases of reservations from the old instance are counted no-ops.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import secrets
from typing import Any

import trio

from switchyard.runtime import Actor, ActorStopped, MailboxFull, Reply

from ..protocol.vocabulary import NEUTRAL_OUTCOMES, Outcome, Trust
from . import scheduler_remote as remote
from .provider_messages import PROVIDERS_PATH, PushCapacity
from .scheduler_index import CapacityIndex, ModelSlot
from .scheduler_messages import (
    COUNTERS,
    REASON_QUEUE_FULL,
    REASON_TIMEOUT,
    REASON_UNKNOWN_MODEL,
    CapacityUpdate,
    Expire,
    GrantLost,
    ModelProfileQuery,
    ModelsQuery,
    NoCapacity,
    NoCapacityReason,
    ProviderGone,
    Release,
    Reservation,
    Reserve,
    SchedulerConfig,
    SchedulerStats,
)
from .scheduler_queue import Waiter, WaitQueues

log = logging.getLogger(__name__)

_EXPIRY_SLACK = 1e-6  # a timer wakes at its deadline; absorb float rounding of `now`


class SchedulerActor(Actor):
    """Reservations by message passing over a per-model capacity index (see module doc)."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self.rng = random.Random(self.config.seed)
        self.index = CapacityIndex(self.config, self.rng)
        self.waiting = WaitQueues(self.config.queue_limit)
        self.reservations: dict[str, ModelSlot] = {}
        self.reserved_by_model: dict[str, int] = {}
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._id_prefix = f"rsv-{secrets.token_hex(4)}-"
        self._next_id = 0
        self._timer_at = math.inf
        self._timer_token = 0
        self._timer_scope: trio.CancelScope | None = None
        self.ledger = remote.ClusterLedger()  # slots confirmed here for other replicas
        self.local_version = 0  # bumped whenever local capacity may have changed

    # -- lifecycle and inspection ------------------------------------------------------

    async def on_stop(self) -> None:
        error = ActorStopped(self.ref.path)
        for waiter in self.waiting.drain_all():
            waiter.reply.fail(error)
        if self._timer_scope is not None:
            self._timer_scope.cancel()

    def describe(self) -> dict[str, Any]:
        return {
            "reserved_slots": len(self.reservations),
            "queued": self.waiting.total,
            "providers_indexed": self.index.routable_count,
            "models": len(self.index.known),
            "granted": self.counters["granted"],
            "refused": self.counters["refused"],
        }

    async def on_start(self) -> None:
        """A (re)started scheduler knows nothing: ask every connected provider to re-push."""
        for ref in self.system.children_refs(PROVIDERS_PATH):
            with contextlib.suppress(MailboxFull):
                ref.tell(PushCapacity())

    def stats(self) -> dict[str, Any]:
        """The reply to `SchedulerStats`."""
        return {
            "reserved_total": len(self.reservations),
            "reserved_by_model": dict(self.reserved_by_model),
            "queued_total": self.waiting.total,
            "queued_by_model": self.waiting.by_model(),
            "providers_indexed": self.index.routable_count,
            "providers_known": len(self.index.providers),
            "providers_by_replica": remote.describe_remote(self.index),
            "models_known": len(self.index.known),
            "counters": dict(self.counters),
        }

    # -- dispatch ------------------------------------------------------------------------

    async def handle(self, msg: Any) -> Any:
        if isinstance(msg, remote.CHANGES_LOCAL):
            self.local_version += 1
        if isinstance(msg, remote.CLUSTER_MESSAGES):
            return remote.on_cluster_message(self, msg)
        match msg:
            case Reserve():
                try:
                    reply = self.defer()
                except RuntimeError:
                    log.warning("Reserve for %r was told, not asked; ignored", msg.model)
                    return None
                self._reserve(msg, reply)
            case Release():
                self._release(msg)
            case CapacityUpdate():
                for model in set(self.index.upsert(msg, trio.current_time())):
                    self.capacity_changed(model)
            case ProviderGone(provider_id=provider_id):
                self.provider_gone(provider_id)
            case Expire(token=token):
                self._expire(token)
            case GrantLost(reservation_id=reservation_id):
                if reservation_id in self.reservations:
                    self.counters["grants_lost"] += 1
                self._release(Release(reservation_id, Outcome.CANCELLED), lost=True)
            case ModelsQuery(include_offline=include_offline, profiles=profiles):
                return self.index.summary(include_offline, trio.current_time(), profiles)
            case ModelProfileQuery(model=model):
                return self.index.profile(model)
            case SchedulerStats():
                return self.stats()
            case _:
                return await super().handle(msg)
        return None

    # -- reserve -------------------------------------------------------------------------

    def _reserve(self, msg: Reserve, reply: Reply) -> None:
        try:
            floor = Trust.parse(msg.min_trust)
            if msg.prompt_tokens < 0 or msg.max_tokens < 0 or math.isnan(msg.deadline):
                raise ValueError(f"invalid Reserve: {msg!r}")
        except (TypeError, ValueError) as exc:
            reply.fail(exc)
            return
        if reply.abandoned:
            self.counters["abandoned"] += 1
            return
        if not self.index.is_known(msg.model, trio.current_time()):
            self._refuse(reply, REASON_UNKNOWN_MODEL, 0.0)
            return
        slot = self.index.select(
            msg.model, msg.prompt_tokens, msg.max_tokens, floor, msg.exclude,
            msg.needs, msg.min_context,
        )  # fmt: skip
        if slot is not None:
            self.grant(reply, slot)
            return
        why = self.index.ineligible(msg.model, floor, msg.exclude, msg.needs, msg.min_context)
        if why is not None:
            self._refuse(reply, why, self._retry_after(msg.model))
            return
        if msg.deadline <= trio.current_time():
            self._refuse(reply, REASON_TIMEOUT, self._retry_after(msg.model))
            return
        added, purged = self.waiting.add(Waiter(msg, floor, reply))
        self.counters["abandoned"] += purged
        if not added:
            self._refuse(reply, REASON_QUEUE_FULL, self._retry_after(msg.model), queue_full=True)
            return
        self.counters["queued"] += 1
        self._arm_timer(msg.deadline)

    def grant(self, reply: Reply, slot: ModelSlot) -> str:
        """Reserve `slot` for the asker behind `reply` (who must not have abandoned)."""
        self._next_id += 1
        reservation_id = f"{self._id_prefix}{self._next_id}"
        self.index.acquire(slot)
        self.reservations[reservation_id] = slot
        provider = slot.provider
        provider.reservations.add(reservation_id)
        model = slot.model
        self.reserved_by_model[model] = self.reserved_by_model.get(model, 0) + 1
        self.counters["granted"] += 1
        grant = Reservation(
            reservation_id, provider.provider_id, provider.ref, model, slot.context_length,
            provider.replica,
        )  # fmt: skip
        reply.set(grant, on_lost=self._on_lost)
        return reservation_id

    def _on_lost(self, grant: Reservation) -> None:
        """Runs in the asker's task when it gave up after the grant: hand the slot back."""
        message = GrantLost(grant.id)
        try:
            self.ref.tell(message)
        except MailboxFull:
            try:
                self._nursery.start_soon(self._send_later, message)
            except RuntimeError:  # this instance is stopping; its reservations die with it
                log.warning("scheduler stopping; lost grant %s not returned", grant.id)

    async def _send_later(self, message: Any) -> None:
        try:
            await self.ref.send(message)
        except ActorStopped:
            log.debug("scheduler stopped before %r was delivered", message)

    def _refuse(
        self, reply: Reply, reason: NoCapacityReason, retry_after: float, queue_full: bool = False
    ) -> None:
        self.counters["refused"] += 1
        self.counters[f"refused_{reason}"] += 1
        reply.set(NoCapacity(reason, retry_after, queue_full))

    def _retry_after(self, model: str) -> float:
        """Seconds until a slot is likely free: queue ahead * typical duration / slots."""
        queue = self.waiting.get(model)
        ahead = (queue.live if queue is not None else 0) + 1
        slots = max(self.index.slots_total(model), 1)
        estimate = ahead * self.index.service_estimate(model) / slots
        return round(
            min(max(estimate, self.config.retry_after_min_s), self.config.retry_after_max_s), 3
        )

    # -- release and provider departures ------------------------------------------------

    def _release(self, msg: Release, lost: bool = False) -> None:
        slot = self.reservations.pop(msg.reservation_id, None)
        if slot is None:
            if not lost:
                self.counters["release_unknown"] += 1
            return
        if not lost:
            self.counters["released"] += 1
        self.ledger.drop(msg.reservation_id)
        slot.provider.reservations.discard(msg.reservation_id)
        self._count_down(slot.model)
        ok = msg.outcome == Outcome.OK
        error: bool | None = False if ok else (None if msg.outcome in NEUTRAL_OUTCOMES else True)
        self.index.release(slot, error, msg.duration_s if ok else None)
        self._drain(slot.model)

    def _count_down(self, model: str) -> None:
        left = self.reserved_by_model[model] - 1
        if left:
            self.reserved_by_model[model] = left
        else:
            del self.reserved_by_model[model]

    def provider_gone(self, provider_id: str) -> None:
        entry = self.index.providers.get(provider_id)
        models = list(entry.models) if entry is not None else []
        provider = self.index.remove(provider_id, trio.current_time())
        if provider is None:
            return
        for reservation_id in provider.reservations:
            slot = self.reservations.pop(reservation_id, None)
            self.ledger.drop(reservation_id)
            if slot is not None:
                self.counters["dropped_by_gone"] += 1
                self._count_down(slot.model)
        provider.reservations.clear()
        for model in models:
            self._refuse_stranded(model)

    # -- the wait queues -----------------------------------------------------------------

    def capacity_changed(self, model: str) -> None:
        """A provider of `model` changed: serve the waiters it now can, refuse the stranded."""
        self._drain(model)
        self._refuse_stranded(model)

    def _drain(self, model: str) -> None:
        """Grant waiting Reserves of `model` in FIFO order while free slots suit them."""
        queue = self.waiting.get(model)
        if queue is None:
            return
        index = self.index
        blocked: Trust | None = None  # floors at or above this cannot be served now
        for waiter in queue:
            if waiter.done:
                continue
            if waiter.reply.abandoned:
                self.waiting.finish(queue, waiter)
                self.counters["abandoned"] += 1
                continue
            if blocked is not None and waiter.floor >= blocked:
                continue
            if index.free(model) <= 0:
                break
            msg = waiter.msg
            slot = index.select(
                model, msg.prompt_tokens, msg.max_tokens, waiter.floor, msg.exclude,
                msg.needs, msg.min_context,
            )  # fmt: skip
            if slot is None:
                if not (msg.exclude or msg.needs or msg.min_context):
                    blocked = waiter.floor if blocked is None else min(blocked, waiter.floor)
                    lowest = queue.min_floor()
                    if lowest is None or blocked <= lowest:
                        break
                continue
            self.waiting.finish(queue, waiter)
            self.grant(waiter.reply, slot)
        queue.compact()

    def _refuse_stranded(self, model: str) -> None:
        """Answer the waiters of `model` that no online provider could serve any more.

        Runs when a provider leaves or changes (rare), never per Reserve or Release.
        """
        queue = self.waiting.get(model)
        if queue is None:
            return
        for waiter in queue:
            if waiter.done:
                continue
            msg = waiter.msg
            why = self.index.ineligible(
                model, waiter.floor, msg.exclude, msg.needs, msg.min_context
            )
            if why is None:
                continue
            self.waiting.finish(queue, waiter)
            if waiter.reply.abandoned:
                self.counters["abandoned"] += 1
            else:
                self._refuse(waiter.reply, why, self._retry_after(model))
        queue.compact()

    def _arm_timer(self, deadline: float) -> None:
        if deadline >= self._timer_at:
            return
        if self._timer_scope is not None:
            self._timer_scope.cancel()
        self._timer_token += 1
        self._timer_at = deadline
        delay = max(deadline - trio.current_time(), 0.0)
        self._timer_scope = self.send_after(delay, Expire(self._timer_token))

    def _expire(self, token: int) -> None:
        if token != self._timer_token:
            return  # a timer we re-armed since
        self._timer_at = math.inf
        self._timer_scope = None
        for waiter in self.waiting.expired(trio.current_time() + _EXPIRY_SLACK):
            if waiter.reply.abandoned:
                self.counters["abandoned"] += 1
            else:
                self._refuse(waiter.reply, REASON_TIMEOUT, self._retry_after(waiter.msg.model))
        following = self.waiting.next_deadline()
        if following is not None:
            self._arm_timer(following)


__all__ = ["COUNTERS", "SchedulerActor"]
