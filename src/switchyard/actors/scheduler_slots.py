"""The scheduler's records: a provider, its per-model slots, a model's index, and the cost.

`CapacityIndex` (scheduler_index.py) owns and updates them; the cost formula is explained
there. A model's routable slots are grouped by *profile* (the capabilities they lack and
their context length): each `SlotGroup` has its own heaps and members by trust level, so
a request needing a capability or a long context merges only the heaps of the groups that
fit it and never skips over unfit slots one by one. Providers of a model usually run the
same server, so a model has one or a few groups. `ModelIndex` also counts, over its
routable slots, who says yes or no to each capability and which context lengths exist,
which answers `ModelProfile` without a scan.
"""

from __future__ import annotations

import math

from switchyard.runtime import ActorRef

from ..protocol.vocabulary import Capability, Support, Trust
from .scheduler_messages import DEFAULT_DECODE_TPS, DEFAULT_PREFILL_TPS, ModelProfile

TRUST_LEVELS = len(Trust)

Entry = tuple[float, float, int, "ModelSlot", int]


class ProviderEntry:
    """One provider as the scheduler sees it (its slots live in `models`)."""

    __slots__ = (
        "error_ewma",
        "models",
        "penalty",
        "provider_id",
        "ref",
        "replica",
        "reservations",
        "routable",
        "trust",
    )

    def __init__(self, provider_id: str, ref: ActorRef) -> None:
        self.provider_id = provider_id
        self.ref = ref
        self.replica: str | None = None  # owning replica of a remote provider; None: local
        self.trust = Trust.UNTRUSTED
        self.routable = False
        self.error_ewma = 0.0
        self.penalty = 1.0
        self.models: dict[str, ModelSlot] = {}
        self.reservations: set[str] = set()


class ModelSlot:
    """One provider's capacity for one model, with what the index counted for it."""

    __slots__ = (
        "able",
        "context_length",
        "counted_able",
        "counted_free",
        "counted_slots",
        "decode_tps",
        "group",
        "in_use",
        "lacking",
        "listed",
        "model",
        "prefill_tps",
        "provider",
        "service_est",
        "service_obs",
        "slots",
        "version",
    )

    def __init__(self, provider: ProviderEntry, model: str) -> None:
        self.provider = provider
        self.model = model
        self.slots = 0
        self.in_use = 0
        self.prefill_tps = DEFAULT_PREFILL_TPS
        self.decode_tps = DEFAULT_DECODE_TPS
        self.service_est = 0.0
        self.service_obs: float | None = None
        self.version = 0
        self.context_length: int | None = None  # None: the provider did not say
        self.lacking: frozenset[Capability] = frozenset()  # capabilities it says "no" to
        self.able: frozenset[Capability] = frozenset()  # capabilities it says "yes" to
        self.listed: Trust | None = None  # the trust bucket it is counted in, if routable
        self.group: SlotGroup | None = None  # the profile group it is counted in
        self.counted_slots = 0
        self.counted_free = 0
        self.counted_able: frozenset[Capability] = frozenset()

    @property
    def free(self) -> int:
        return self.slots - self.in_use if self.slots > self.in_use else 0


Profile = tuple[frozenset[Capability], int | None]  # (capabilities lacking, context length)


class SlotGroup:
    """The routable slots of one model sharing a profile: heaps and members by trust."""

    __slots__ = ("context_length", "heaps", "lacking", "members", "size")

    def __init__(self, profile: Profile) -> None:
        self.lacking, self.context_length = profile
        self.heaps: list[list[Entry]] = [[] for _ in range(TRUST_LEVELS)]
        self.members: list[dict[str, ModelSlot]] = [{} for _ in range(TRUST_LEVELS)]
        self.size = 0

    def fits(self, needs: frozenset[Capability], min_context: int) -> bool:
        """Whether these slots may serve a request (unknown context and support fit)."""
        if needs and not needs.isdisjoint(self.lacking):
            return False
        context = self.context_length
        return context is None or context >= min_context


class ModelIndex:
    """Per-model slot groups, plus aggregates for GET /v1/models and `ModelProfile`."""

    __slots__ = (
        "context_max",
        "context_unknown",
        "contexts",
        "groups",
        "no_counts",
        "online",
        "service_ewma",
        "slots_free",
        "slots_total",
        "yes_counts",
    )

    def __init__(self) -> None:
        self.groups: dict[Profile, SlotGroup] = {}
        self.online = 0
        self.slots_total = 0
        self.slots_free = 0
        self.service_ewma: float | None = None
        self.no_counts: dict[Capability, int] = dict.fromkeys(Capability, 0)
        self.yes_counts: dict[Capability, int] = dict.fromkeys(Capability, 0)
        self.contexts: dict[int, int] = {}  # context length → routable slots reporting it
        self.context_unknown = 0  # routable slots that did not report one
        self.context_max: int | None = None  # max(contexts), recomputed only when it leaves

    def fitting(self, needs: frozenset[Capability], min_context: int) -> list[SlotGroup]:
        """The groups that may serve a request (all of them for a plain one)."""
        groups = self.groups.values()
        if not needs and min_context <= 0:
            return list(groups)
        return [g for g in groups if g.fits(needs, min_context)]

    def count(
        self,
        lacking: frozenset[Capability],
        able: frozenset[Capability],
        context: int | None,
        sign: int,
    ) -> None:
        """Add (`sign` 1) or remove (-1) a routable slot's profile from the aggregates."""
        for capability in lacking:
            self.no_counts[capability] += sign
        for capability in able:
            self.yes_counts[capability] += sign
        if context is None:
            self.context_unknown += sign
        else:
            left = self.contexts.get(context, 0) + sign
            if left:
                self.contexts[context] = left
                if self.context_max is None or context > self.context_max:
                    self.context_max = context
            else:
                del self.contexts[context]
                if context == self.context_max:
                    self.context_max = max(self.contexts) if self.contexts else None

    def profile(self) -> ModelProfile:
        """Context length and capabilities of the model over its routable slots."""
        online = self.online
        support: dict[Capability, Support] = {}
        for capability in Capability:
            if online and self.no_counts[capability] == online:
                support[capability] = Support.NO
            elif self.yes_counts[capability]:
                support[capability] = Support.YES
            else:
                support[capability] = Support.UNKNOWN
        return ModelProfile(
            providers_online=online,
            context_length=self.context_max,
            context_bounded=online > 0 and self.context_unknown == 0,
            capabilities=support,
        )


def cost(slot: ModelSlot, prompt_tokens: int, max_tokens: int) -> float:
    """Expected seconds to serve the request on `slot`, times its provider's penalty."""
    service = slot.service_obs if slot.service_obs is not None else slot.service_est
    ttft = slot.in_use / (slot.slots or 1) * service + prompt_tokens / slot.prefill_tps
    return (ttft + max_tokens / slot.decode_tps) * slot.provider.penalty


def speed(value: float, default: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) and value > 0 else default


__all__ = [
    "TRUST_LEVELS",
    "Entry",
    "ModelIndex",
    "ModelSlot",
    "Profile",
    "ProviderEntry",
    "SlotGroup",
    "cost",
    "speed",
]
