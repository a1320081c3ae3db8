"""The scheduler's capacity view: providers, per-model candidate heaps, and the cost model.

Cost of serving a request (prompt P tokens, up to M new tokens) on a provider's model slot:

    ((in_use / slots) * service_s + P / prefill_tps  +  M / decode_tps)
        * trust_penalty[trust] * (1 + error_weight * error_ewma) [* remote_penalty]

The first two terms are the expected time to first token: a provider batches its slots,
so each busy slot delays a new request by about 1/slots of a typical request's service time
(`service_s`: an EWMA of observed durations, or the reference request's estimate until one
is observed). The third is decode time. Penalties favour hardware-attested providers and
ones without recent errors, and (`remote_penalty`) a provider on this replica over one of
another replica, so a request crosses NATS only when that is clearly better.

Index: for every (model, profile group, trust level) a heap of entries `(reference cost,
random, seq, slot, version)` holding slots that are routable and have a free slot (a
profile group gathers the slots of one model that lack the same capabilities and have the
same context length: see scheduler_slots.py). The reference cost is the
cost of a fixed reference request (config `ref_prompt_tokens`, `ref_max_tokens`). Any change
to a slot or its provider bumps the slot's `version` and pushes a fresh entry, so older
entries are stale and are dropped when they surface (lazy invalidation); a heap that grows
past twice its members is rebuilt. `select` pops from the heaps of the acceptable trust
levels in key order, skipping excluded providers, until it holds `max_candidates` entries or
the next key is more than `scan_band` above the first; it costs those exactly for the actual
request, picks at random among the ones within `tie_band` of the best, and pushes the rest
back. A request needing capabilities or a context length merges only the heaps of the
groups that fit it. A reservation therefore touches O(max_candidates + |exclude|) entries,
each O(log n), plus O(groups) for the heap tops.

Known models: a model is known while a provider serving it is online, and for
`known_window_s` after the last one left (at most `known_limit` offline models are
remembered, the longest gone forgotten first). `ineligible` says, in O(groups * trust
levels + |exclude|), why no provider could ever serve a request now, so only requests that
some busy provider could serve are queued.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
from collections import OrderedDict
from typing import Any

from ..protocol.vocabulary import Capability, Trust
from .scheduler_messages import (
    DEFAULT_DECODE_TPS,
    DEFAULT_PREFILL_TPS,
    CapacityUpdate,
    ModelProfile,
    NoCapacityReason,
    SchedulerConfig,
)
from .scheduler_slots import (
    Entry,
    ModelIndex,
    ModelSlot,
    ProviderEntry,
    SlotGroup,
    cost,
    speed,
)

log = logging.getLogger(__name__)

_EWMA_FLOOR = 1e-3  # an error EWMA below this counts as zero (so penalties settle)


class CapacityIndex:
    """Providers by id and the per-model candidate indexes (see module docstring)."""

    def __init__(self, config: SchedulerConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.providers: dict[str, ProviderEntry] = {}
        self.models: dict[str, ModelIndex] = {}
        self.known: OrderedDict[str, float] = OrderedDict()  # model → last seen online
        self.routable_count = 0
        self._seq = itertools.count()

    # -- updates from providers --------------------------------------------------------

    def upsert(self, update: CapacityUpdate, now: float) -> list[str]:
        """Apply a provider's full capacity; returns the models whose capacity was refreshed."""
        trust = update.trust
        provider = self.providers.get(update.provider_id)
        if provider is None:
            provider = self.providers[update.provider_id] = ProviderEntry(
                update.provider_id, update.ref
            )
        provider.ref = update.ref
        routable = bool(update.routable)
        whole = (
            provider.trust is not trust
            or provider.routable != routable
            or provider.replica != update.replica
        )
        provider.replica = update.replica
        if provider.routable != routable:
            self.routable_count += 1 if routable else -1
        provider.trust = trust
        provider.routable = routable
        self._set_penalty(provider)
        touched: list[ModelSlot] = []
        for model, capacity in update.models.items():
            slot = provider.models.get(model)
            if slot is None:
                slot = provider.models[model] = ModelSlot(provider, model)
            slots = max(0, int(capacity.slots))
            prefill = speed(capacity.prefill_tps, DEFAULT_PREFILL_TPS)
            decode = speed(capacity.decode_tps, DEFAULT_DECODE_TPS)
            if slots > 0:
                self._seen(model, now)
            profile = (capacity.context_length, capacity.lacking, capacity.able)
            if (
                whole
                or (slot.slots, slot.prefill_tps, slot.decode_tps) != (slots, prefill, decode)
                or (slot.context_length, slot.lacking, slot.able) != profile
            ):
                slot.slots, slot.prefill_tps, slot.decode_tps = slots, prefill, decode
                slot.context_length, slot.lacking, slot.able = profile
                slot.service_est = (
                    self.config.ref_prompt_tokens / prefill + self.config.ref_max_tokens / decode
                )
                touched.append(slot)
        for model, slot in list(provider.models.items()):
            if model not in update.models and (slot.slots or whole):
                slot.slots = 0
                touched.append(slot)
        for slot in touched:
            self._refresh(slot)
            self._forget_if_idle(slot)
        return [slot.model for slot in touched]

    def remove(self, provider_id: str, now: float) -> ProviderEntry | None:
        """Forget a provider entirely (its reservation ids are returned with it)."""
        provider = self.providers.pop(provider_id, None)
        if provider is None:
            return None
        if provider.routable:
            self.routable_count -= 1
        provider.routable = False
        for slot in provider.models.values():
            if slot.slots > 0:
                self._seen(slot.model, now)
            self._refresh(slot)
        provider.models.clear()
        return provider

    # -- reservations --------------------------------------------------------------------

    def free(self, model: str) -> int:
        """Free routable slots of `model` at any trust level."""
        index = self.models.get(model)
        return index.slots_free if index is not None else 0

    def acquire(self, slot: ModelSlot) -> None:
        slot.in_use += 1
        self._refresh(slot)

    def release(self, slot: ModelSlot, error: bool | None, duration_s: float | None) -> None:
        """Free one slot; `error` None leaves the error EWMA alone (client cancellations)."""
        slot.in_use -= 1
        provider = slot.provider
        config = self.config
        if duration_s is not None and math.isfinite(duration_s) and duration_s > 0:
            old = slot.service_obs
            slot.service_obs = (
                duration_s if old is None else old + config.service_alpha * (duration_s - old)
            )
            index = self.models.get(slot.model)
            if index is not None:
                prev = index.service_ewma
                index.service_ewma = (
                    duration_s
                    if prev is None
                    else prev + config.service_alpha * (duration_s - prev)
                )
        if error is not None:
            ewma = provider.error_ewma + config.error_alpha * (float(error) - provider.error_ewma)
            ewma = 0.0 if ewma < _EWMA_FLOOR else ewma
            if ewma != provider.error_ewma:
                provider.error_ewma = ewma
                self._set_penalty(provider)
                for other in provider.models.values():
                    if other is not slot:
                        self._refresh(other)
        self._refresh(slot)
        self._forget_if_idle(slot)

    def select(
        self,
        model: str,
        prompt_tokens: int,
        max_tokens: int,
        floor: Trust,
        exclude: frozenset[str],
        needs: frozenset[Capability] = frozenset(),
        min_context: int = 0,
    ) -> ModelSlot | None:
        """The cheapest eligible slot for this request (random among near-equal), or None."""
        index = self.models.get(model)
        if index is None or index.slots_free <= 0:
            return None
        config = self.config
        rank = floor.rank
        heaps = [h for g in index.fitting(needs, min_context) for h in g.heaps[rank:]]
        held: list[tuple[list[Entry], Entry]] = []
        candidates: list[Entry] = []
        limit = math.inf
        while len(candidates) < config.max_candidates:
            best: list[Entry] | None = None
            for heap in heaps:
                while heap and heap[0][3].version != heap[0][4]:
                    heapq.heappop(heap)  # stale: the slot changed since this was pushed
                if heap and (best is None or heap[0] < best[0]):
                    best = heap
            if best is None or best[0][0] > limit:
                break
            entry = heapq.heappop(best)
            held.append((best, entry))
            if exclude and entry[3].provider.provider_id in exclude:
                continue
            if not candidates:
                limit = entry[0] * (1.0 + config.scan_band)
            candidates.append(entry)
        chosen: Entry | None = None
        if candidates:
            costs = [cost(e[3], prompt_tokens, max_tokens) for e in candidates]
            cutoff = min(costs) * (1.0 + config.tie_band)
            near = [e for e, c in zip(candidates, costs, strict=True) if c <= cutoff]
            chosen = near[0] if len(near) == 1 else self.rng.choice(near)
        for heap, entry in held:
            if entry is not chosen:
                heapq.heappush(heap, entry)
        return chosen[3] if chosen is not None else None

    def ineligible(
        self,
        model: str,
        floor: Trust,
        exclude: frozenset[str],
        needs: frozenset[Capability] = frozenset(),
        min_context: int = 0,
    ) -> NoCapacityReason | None:
        """Why no online provider could serve this request even once free (None: one can)."""
        index = self.models.get(model)
        if index is None or index.online <= 0:
            return NoCapacityReason.OFFLINE
        groups = index.fitting(needs, min_context)
        if not groups:
            capable = any(g.fits(needs, 0) for g in index.groups.values())
            return NoCapacityReason.CONTEXT if capable else NoCapacityReason.CAPABILITY
        members = [bucket for g in groups for bucket in g.members[floor.rank :]]
        eligible = sum(len(bucket) for bucket in members)
        if eligible == 0:
            return NoCapacityReason.TRUST
        if exclude:
            eligible -= sum(1 for pid in exclude if any(pid in bucket for bucket in members))
            if eligible <= 0:
                return NoCapacityReason.EXCLUDED
        return None

    # -- queries ---------------------------------------------------------------------------

    def is_known(self, model: str, now: float) -> bool:
        """Online now, or seen online within `known_window_s`."""
        index = self.models.get(model)
        if index is not None and index.online > 0:
            return True
        seen = self.known.get(model)
        return seen is not None and now - seen <= self.config.known_window_s

    def summary(
        self, include_offline: bool = False, now: float = 0.0, profiles: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Per model: providers online, routable slots in total and free (offline: known
        ones), and with `profiles` its `ModelProfile` under "profile"."""
        out: dict[str, dict[str, Any]] = {}
        names = {m for m, index in self.models.items() if index.online > 0}
        if include_offline:
            names.update(m for m in self.known if self.is_known(m, now))
        for model in sorted(names):
            index = self.models.get(model)
            online = index.online if index is not None else 0
            if online or include_offline:
                out[model] = {
                    "providers_online": online,
                    "slots_total": index.slots_total if index is not None else 0,
                    "slots_free": index.slots_free if index is not None else 0,
                }
                if profiles:
                    out[model]["profile"] = (index or ModelIndex()).profile()
        return out

    def profile(self, model: str) -> ModelProfile:
        """The model's context length and capabilities over its routable providers."""
        return (self.models.get(model) or ModelIndex()).profile()

    def service_estimate(self, model: str) -> float:
        """A typical request duration for `model` (observed EWMA, else the reference)."""
        index = self.models.get(model)
        if index is not None and index.service_ewma is not None:
            return index.service_ewma
        return (
            self.config.ref_prompt_tokens / DEFAULT_PREFILL_TPS
            + self.config.ref_max_tokens / DEFAULT_DECODE_TPS
        )

    def slots_total(self, model: str) -> int:
        index = self.models.get(model)
        return index.slots_total if index is not None else 0

    # -- internals -------------------------------------------------------------------------

    def _seen(self, model: str, now: float) -> None:
        known = self.known
        known[model] = now
        known.move_to_end(model)
        while len(known) > self.config.known_limit:
            known.popitem(last=False)

    def _set_penalty(self, provider: ProviderEntry) -> None:
        config = self.config
        provider.penalty = config.trust_penalty.get(provider.trust, 1.0) * (
            1.0 + config.error_weight * provider.error_ewma
        )
        if provider.replica is not None:
            provider.penalty *= config.remote_penalty

    def _refresh(self, slot: ModelSlot) -> None:
        """Re-count `slot` in its model's aggregates and re-index it at a new version."""
        index = self.models.get(slot.model)
        if index is None:
            index = self.models[slot.model] = ModelIndex()
        provider = slot.provider
        group = slot.group
        if slot.listed is not None and group is not None:
            index.online -= 1
            index.slots_total -= slot.counted_slots
            index.slots_free -= slot.counted_free
            index.count(group.lacking, slot.counted_able, group.context_length, -1)
            del group.members[slot.listed.rank][provider.provider_id]
            group.size -= 1
            if group.size == 0:
                del index.groups[group.lacking, group.context_length]
            slot.listed = slot.group = None
        slot.version += 1
        if not provider.routable or slot.slots <= 0:
            return
        profile = (slot.lacking, slot.context_length)
        group = index.groups.get(profile)
        if group is None:
            group = index.groups[profile] = SlotGroup(profile)
        trust = provider.trust
        slot.listed, slot.group, slot.counted_able = trust, group, slot.able
        slot.counted_slots = slot.slots
        slot.counted_free = free = slot.free
        index.online += 1
        index.slots_total += slot.slots
        index.slots_free += free
        index.count(slot.lacking, slot.able, slot.context_length, 1)
        members = group.members[trust.rank]
        members[provider.provider_id] = slot
        group.size += 1
        if free > 0:
            heap = group.heaps[trust.rank]
            heapq.heappush(heap, self._entry(slot))
            if len(heap) > 2 * len(members) + 64:
                group.heaps[trust.rank] = self._rebuild(members)

    def _entry(self, slot: ModelSlot) -> Entry:
        key = cost(slot, self.config.ref_prompt_tokens, self.config.ref_max_tokens)
        return (key, self.rng.random(), next(self._seq), slot, slot.version)

    def _rebuild(self, members: dict[str, ModelSlot]) -> list[Entry]:
        heap = [self._entry(slot) for slot in members.values() if slot.free > 0]
        heapq.heapify(heap)
        return heap

    def _forget_if_idle(self, slot: ModelSlot) -> None:
        """Drop a slot the provider no longer offers once nothing is reserved on it."""
        if slot.slots == 0 and slot.in_use == 0:
            models = slot.provider.models
            if models.get(slot.model) is slot:
                del models[slot.model]


__all__ = ["CapacityIndex", "ModelIndex", "ModelSlot", "ProviderEntry", "cost"]
