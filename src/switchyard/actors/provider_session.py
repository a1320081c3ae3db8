"""ProviderSession: what outlives one provider actor instance on a live socket."""

from __future__ import annotations

from dataclasses import dataclass

import trio

from ..protocol.frames import RegisterFrame
from ..settings import ProviderSettings
from .provider_messages import CloseSocket

DEFAULT_PREFILL_TPS = 2000.0
DEFAULT_DECODE_TPS = 50.0
MAX_TPS = 1_000_000.0


def clamp_speed(value: float | None, default: float) -> float:
    """A usable tokens/s figure: unknown, NaN, ≤0 or absurd reports never reach the scheduler."""
    if value is None or not (value == value) or value <= 0:
        return default
    return min(max(value, 1.0), MAX_TPS)


@dataclass
class ProviderSession:
    """Identity from the register frame plus the socket's outbound channel.

    The route builds it once per connection; the actor's factory closes over it, so a
    restarted actor instance serves the same socket and knows it is a restart.
    """

    provider_id: str
    owner_account_id: str
    public_key: str
    attested_trust: str
    register: RegisterFrame
    outbound: trio.MemorySendChannel[str | CloseSocket]
    settings: ProviderSettings
    instances: int = 0
