"""Messages of the SchedulerActor, its configuration and the default model speeds.

Told by provider actors: `CapacityUpdate` (whenever anything changes), `ProviderGone`.
Asked by request handlers: `Reserve` → `Reservation` | `NoCapacity`; told: `Release`.
Asked by the HTTP layer: `ModelsQuery` (GET /v1/models), `SchedulerStats` (inspection);
by a consumer request before anything is held: `ModelProfileQuery` → `ModelProfile` (the
model's largest context length and its capabilities over the providers online).

Outcomes of a `Release` (`protocol.vocabulary.Outcome`): `NEUTRAL_OUTCOMES` (ok, and
cancelled: the client went away) do not count against the provider; any other outcome
(`Outcome.ERROR`, or the stream's error code such as `"timeout"`) does. Trust levels are
`protocol.vocabulary.Trust`.

Why a `NoCapacity` came back (`NoCapacityReason`): only a Reserve that some online,
eligible provider could serve once it has a free slot waits in the queue (and may end in
`timeout` or `queue_full`); every other case is answered at once — the model is unknown,
nobody serving it is online, every provider online lacks a capability the request needs
or a long enough context, nobody online meets the trust floor, or the only eligible
providers are the ones the Reserve excludes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from switchyard.runtime import ActorRef

from ..protocol.vocabulary import Capability, Support, Trust

#: Speeds (tokens/s) assumed for a model whose provider states none (or a bad value).
DEFAULT_PREFILL_TPS = 2000.0
DEFAULT_DECODE_TPS = 50.0


#: The counters of `SchedulerStats` (and of `SchedulerActor.describe`).
COUNTERS = (
    "granted",  # Reservations delivered
    "queued",  # Reserves that had to wait
    "refused",  # NoCapacity replies, of which:
    "refused_timeout",
    "refused_queue_full",
    "refused_unknown_model",
    "refused_offline",  # known model, nobody online
    "refused_capability",  # every provider online lacks a capability it needs
    "refused_context",  # no provider online has the context length it needs
    "refused_trust",  # nobody online meets the trust floor
    "refused_excluded",  # the only eligible providers were excluded
    "abandoned",  # waiters whose asker gave up before a grant
    "grants_lost",  # grants whose asker vanished after the grant: slot taken back
    "released",  # Releases of live reservations
    "release_unknown",  # Releases of unknown or already released ids (no-ops)
    "dropped_by_gone",  # reservations dropped because their provider disconnected
    "confirmed",  # ReserveOn granted: a slot here for another replica's request
    "confirm_refused",  # ReserveOn refused (the other replica's view was stale)
)


class NoCapacityReason(StrEnum):
    """`NoCapacity.reason`: why no slot was granted (see the module docstring)."""

    UNKNOWN_MODEL = "unknown_model"  # never offered, or not within `known_window_s`
    OFFLINE = "offline"  # known, but no provider serving it is online
    CAPABILITY = "capability"  # every provider online says no to a capability it needs
    CONTEXT = "context"  # no provider online has the context length it needs
    TRUST = "trust"  # providers are online, none at or above the trust floor
    EXCLUDED = "excluded"  # the only eligible providers are excluded (failed this request)
    QUEUE_FULL = "queue_full"
    TIMEOUT = "timeout"  # waited for a busy eligible provider until the deadline


REASON_UNKNOWN_MODEL = NoCapacityReason.UNKNOWN_MODEL
REASON_QUEUE_FULL = NoCapacityReason.QUEUE_FULL
REASON_TIMEOUT = NoCapacityReason.TIMEOUT


@dataclass(frozen=True, slots=True)
class ModelCapacity:
    """What a provider offers for one model: slot limit and its speeds (tokens/s)."""

    slots: int
    prefill_tps: float = DEFAULT_PREFILL_TPS
    decode_tps: float = DEFAULT_DECODE_TPS
    context_length: int | None = None  # None: not reported (fits any request)
    lacking: frozenset[Capability] = frozenset()  # capabilities it says "no" to
    able: frozenset[Capability] = frozenset()  # capabilities it says "yes" to


@dataclass(frozen=True, slots=True)
class CapacityUpdate:
    """Full capacity of one provider, told whenever anything changes.

    `routable=False` (not online, challenge overdue, draining) takes the provider out of
    the indexes; its existing reservations stay until released. Models missing from
    `models` are no longer offered.
    """

    provider_id: str
    ref: ActorRef
    trust: Trust
    routable: bool
    models: dict[str, ModelCapacity]
    replica: str | None = None  # the owning replica of a remote provider (None: local)


@dataclass(frozen=True, slots=True)
class ProviderGone:
    """The provider disconnected: forget it and all its reservations."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class Reserve:
    """Ask for one slot of `model`; `deadline` is a `trio.current_time()` value.

    Replied with `Reservation`, or `NoCapacity` (a value, not an exception). Ask with a
    timeout a little beyond the deadline so the scheduler answers first. Only slots that
    do not say "no" to any of `needs`, and whose context length (when reported) is at
    least `min_context` tokens, are granted.
    """

    model: str
    prompt_tokens: int
    max_tokens: int
    min_trust: Trust = Trust.SELF_SIGNED
    exclude: frozenset[str] = frozenset()
    deadline: float = field(kw_only=True)
    needs: frozenset[Capability] = field(default=frozenset(), kw_only=True)
    min_context: int = field(default=0, kw_only=True)


@dataclass(frozen=True, slots=True)
class Reservation:
    """A granted slot; give it back exactly once with `Release(id, ...)`."""

    id: str
    provider_id: str
    provider_ref: ActorRef
    model: str
    context_length: int | None = None  # the granted slot's, when its provider reported one
    replica: str | None = None  # a remote provider's owning replica (None: this process)


@dataclass(frozen=True, slots=True)
class NoCapacity:
    """No slot: why (`NoCapacityReason`) and when to try again."""

    reason: NoCapacityReason
    retry_after_s: float
    queue_full: bool = False


@dataclass(frozen=True, slots=True)
class Release:
    """Give a reservation back; unknown or repeated ids are counted no-ops."""

    reservation_id: str
    outcome: str
    ttft_s: float | None = None
    tokens: int = 0
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class ModelsQuery:
    """→ {model: {"providers_online", "slots_total", "slots_free"}} (served models only;
    with `profiles`, also "profile": its `ModelProfile`)."""

    include_offline: bool = False
    profiles: bool = False


@dataclass(frozen=True, slots=True)
class ModelProfileQuery:
    """→ `ModelProfile` of `model` (answered in O(1) from the model's counters)."""

    model: str


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """A model as its routable providers describe it.

    `context_length`: the largest any of them reported (None: none did);
    `context_bounded`: every one reported one, so nothing longer can be served.
    `capabilities`: NO when every one says no, YES when at least one says yes, else
    UNKNOWN (a model nobody serves is UNKNOWN throughout).
    """

    providers_online: int
    context_length: int | None
    context_bounded: bool
    capabilities: dict[Capability, Support]

    def lacks(self, needs: frozenset[Capability]) -> list[Capability]:
        """The capabilities of `needs` that no provider online has, in `Capability` order."""
        caps = self.capabilities
        return [c for c in Capability if c in needs and caps.get(c) is Support.NO]


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """→ dict of counters: reserved_total, per-model reserved/queued, providers, outcomes."""


@dataclass(frozen=True, slots=True)
class Expire:
    """Internal: the deadline timer fired; answer every waiter whose deadline passed."""

    token: int


@dataclass(frozen=True, slots=True)
class GrantLost:
    """Internal: a granted reservation's asker had already gone; take the slot back."""

    reservation_id: str


@dataclass(frozen=True)
class SchedulerConfig:
    """Tunables of the scheduler (defaults suit production)."""

    queue_limit: int = 1000  # waiting Reserves per model; more → NoCapacity(queue_full)
    ref_prompt_tokens: int = 512  # reference request used to key the candidate heaps
    ref_max_tokens: int = 256
    tie_band: float = 0.05  # costs within 5% of the best are a tie, broken at random
    scan_band: float = 0.25  # heap entries within 25% of the top are costed exactly
    max_candidates: int = 8  # ...but never more than this many per Reserve
    trust_penalty: dict[Trust, float] = field(
        default_factory=lambda: {Trust.HARDWARE: 1.0, Trust.SELF_SIGNED: 1.2, Trust.UNTRUSTED: 1.5}
    )
    error_weight: float = 3.0  # cost * (1 + error_weight * error EWMA)
    remote_penalty: float = 1.1  # cost * this on another replica's provider (past tie_band)
    error_alpha: float = 0.1  # EWMA weight of one Release outcome
    service_alpha: float = 0.2  # EWMA weight of one observed request duration
    retry_after_min_s: float = 1.0
    retry_after_max_s: float = 30.0
    known_window_s: float = 3600.0  # a model offline this long becomes unknown (404)
    known_limit: int = 10_000  # models remembered while offline (oldest forgotten first)
    seed: int | None = None  # for the random tie-break (tests)

    def __post_init__(self) -> None:
        if self.queue_limit < 0 or self.max_candidates < 1 or self.known_limit < 1:
            raise ValueError("queue_limit >= 0, max_candidates >= 1, known_limit >= 1")
        penalties = [*self.trust_penalty.values(), self.remote_penalty]
        if not all(math.isfinite(p) and p > 0 for p in penalties):
            raise ValueError("trust penalties must be positive")


__all__ = [
    "COUNTERS",
    "DEFAULT_DECODE_TPS",
    "DEFAULT_PREFILL_TPS",
    "REASON_QUEUE_FULL",
    "REASON_TIMEOUT",
    "REASON_UNKNOWN_MODEL",
    "CapacityUpdate",
    "Expire",
    "GrantLost",
    "ModelCapacity",
    "ModelProfile",
    "ModelProfileQuery",
    "ModelsQuery",
    "NoCapacity",
    "NoCapacityReason",
    "ProviderGone",
    "Release",
    "Reservation",
    "Reserve",
    "SchedulerConfig",
    "SchedulerStats",
]
