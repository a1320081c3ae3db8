"""The scheduler's records: a provider, its per-model slots, a model's index, and the cost.

`CapacityIndex` (scheduler_index.py) owns and updates them; the cost formula is explained
there.
"""

from __future__ import annotations

import math

from switchyard.runtime import ActorRef

from ..protocol.vocabulary import Trust
from .scheduler_messages import DEFAULT_DECODE_TPS, DEFAULT_PREFILL_TPS

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
        "reservations",
        "routable",
        "trust",
    )

    def __init__(self, provider_id: str, ref: ActorRef) -> None:
        self.provider_id = provider_id
        self.ref = ref
        self.trust = Trust.UNTRUSTED
        self.routable = False
        self.error_ewma = 0.0
        self.penalty = 1.0
        self.models: dict[str, ModelSlot] = {}
        self.reservations: set[str] = set()


class ModelSlot:
    """One provider's capacity for one model, with what the index counted for it."""

    __slots__ = (
        "counted_free",
        "counted_slots",
        "decode_tps",
        "in_use",
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
        self.listed: Trust | None = None  # the trust bucket it is counted in, if routable
        self.counted_slots = 0
        self.counted_free = 0

    @property
    def free(self) -> int:
        return self.slots - self.in_use if self.slots > self.in_use else 0


class ModelIndex:
    """Per-model heaps and members by trust level, plus aggregates for GET /v1/models."""

    __slots__ = ("heaps", "members", "online", "service_ewma", "slots_free", "slots_total")

    def __init__(self) -> None:
        self.heaps: list[list[Entry]] = [[] for _ in range(TRUST_LEVELS)]
        self.members: list[dict[str, ModelSlot]] = [{} for _ in range(TRUST_LEVELS)]
        self.online = 0
        self.slots_total = 0
        self.slots_free = 0
        self.service_ewma: float | None = None


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


__all__ = ["TRUST_LEVELS", "Entry", "ModelIndex", "ModelSlot", "ProviderEntry", "cost", "speed"]
