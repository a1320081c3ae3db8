"""ProviderSession (what outlives one actor instance on a socket), SpeedModel, UpstreamView,
and `model_capacity` (one served model as the scheduler sees it)."""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import trio

from ..protocol.frames import ModelSpec, RegisterFrame
from ..protocol.provider_frames import UpstreamReport
from ..protocol.vocabulary import Trust
from ..settings import ProviderSettings
from .challenges import RETIRED_NONCES
from .provider_messages import CloseSocket
from .scheduler_messages import DEFAULT_DECODE_TPS, DEFAULT_PREFILL_TPS, ModelCapacity

log = logging.getLogger(__name__)

MAX_TPS = 1_000_000.0


def clamp_speed(value: float | None, default: float) -> float:
    """A usable tokens/s figure: unknown, NaN, ≤0 or absurd reports never reach the scheduler."""
    if value is None or not (value == value) or value <= 0:
        return default
    return min(max(value, 1.0), MAX_TPS)


def model_capacity(spec: ModelSpec, slots: int, speeds: tuple[float, float]) -> ModelCapacity:
    """What the scheduler indexes of a served model: slots, speeds, context, capabilities."""
    caps = spec.capabilities
    return ModelCapacity(
        slots=slots,
        prefill_tps=speeds[0],
        decode_tps=speeds[1],
        context_length=spec.context_length,
        lacking=caps.lacking() if caps is not None else frozenset(),
        able=caps.having() if caps is not None else frozenset(),
    )


@dataclass
class ProviderSession:
    """Identity from the register frame plus the socket's outbound channel.

    The route builds it once per connection; the actor's factory closes over it, so a
    restarted actor instance serves the same socket and knows it is a restart.
    """

    provider_id: str
    owner_account_id: str
    #: The provider token this connection authenticated with (revoking it closes us).
    token_id: str
    public_key: str
    attested_trust: Trust
    register: RegisterFrame
    outbound: trio.MemorySendChannel[str | CloseSocket]
    settings: ProviderSettings
    instances: int = 0
    #: Request ids finished or cancelled on this socket, whose late frames are dropped
    #: silently — kept here so they survive an actor restart (frames sent before the
    #: agent handles `resync` must not look like someone else's requests).
    closed_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)
    #: Challenge nonces never answered in time (expired, or outstanding when an instance
    #: ended): their late answers are ignored once instead of counting as bad signatures.
    retired_nonces: deque[str] = field(default_factory=lambda: deque(maxlen=RETIRED_NONCES))


EWMA_ALPHA = 0.2


class SpeedModel:
    """Prefill and decode tokens/s per model: EWMAs of real completions, clamped.

    Starts from the register frame's hints (or defaults); `changed()` says whether the
    speeds moved more than 10 % since they were last pushed to the scheduler.
    """

    def __init__(self, register: RegisterFrame) -> None:
        self.speeds = {
            m.id: (
                clamp_speed(m.prefill_tps, DEFAULT_PREFILL_TPS),
                clamp_speed(m.decode_tps, DEFAULT_DECODE_TPS),
            )
            for m in register.models
        }
        self.pushed: dict[str, tuple[float, float]] = {}

    def learn(
        self, model: str, ttft_s: float | None, decode_span_s: float | None,
        prompt_tokens: int, completion_tokens: int,
    ) -> None:  # fmt: skip
        """Fold one completion into the model's speeds (spans are seconds, may be None)."""
        prefill, decode = self.speeds[model]
        if ttft_s is not None and ttft_s > 0 and prompt_tokens > 0:
            prefill += EWMA_ALPHA * (clamp_speed(prompt_tokens / ttft_s, prefill) - prefill)
        if decode_span_s is not None and decode_span_s > 0 and completion_tokens > 1:
            observed = clamp_speed((completion_tokens - 1) / decode_span_s, decode)
            decode += EWMA_ALPHA * (observed - decode)
        self.speeds[model] = (prefill, decode)

    def changed(self) -> bool:
        return not all(_close_enough(v, self.pushed.get(m)) for m, v in self.speeds.items())

    def mark_pushed(self) -> None:
        self.pushed = dict(self.speeds)


def _close_enough(a: tuple[float, float], b: tuple[float, float] | None) -> bool:
    if b is None:
        return False
    return all(abs(x - y) <= 0.1 * max(y, 1.0) for x, y in zip(a, b, strict=True))


class UpstreamView:
    """The provider's upstream as its heartbeats report it (healthy until told otherwise)."""

    def __init__(self) -> None:
        self.healthy = True
        self.reason: str | None = None

    def update(self, report: UpstreamReport | None, provider_id: str) -> bool:
        """Take a heartbeat's report (None: not reported, healthy); True if routability changed."""
        healthy = report is None or report.healthy
        self.reason = None if report is None or healthy else report.reason
        if healthy == self.healthy:
            return False
        self.healthy = healthy
        if healthy:
            log.info("provider %s: upstream healthy again, routable", provider_id)
        else:
            log.warning("provider %s: upstream down (%s), unroutable", provider_id, self.reason)
        return True

    def describe(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "reason": self.reason}
