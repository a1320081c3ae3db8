"""What a session and the agent that runs it exchange: `SessionHost` in, `SessionOutcome` out.

The session (session.py) sees the agent only through its `SessionHost` (values and
callbacks); when its connection ends it tells the agent what to do next with a
`SessionOutcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.protocol.codes import FATAL_CLOSE_CODES
from switchyard.protocol.frames import RegisteredFrame

from .backend import Backend
from .config import AgentConfig
from .health import UpstreamHealth


@dataclass(frozen=True, slots=True)
class SessionHost:
    """What a session gets from the agent that runs it.

    `stop_deadline` is read once `stopping` is set (a later stop may shorten it);
    `on_registered` and `on_draining` report the session's progress to the agent;
    `upstream` is the agent's view of its inference server's health.
    """

    config: AgentConfig
    key: Ed25519PrivateKey
    provider_id: str
    backend: Backend
    stopping: trio.Event
    stop_deadline: Callable[[], float]
    on_registered: Callable[[RegisteredFrame], None]
    on_draining: Callable[[], None]
    upstream: UpstreamHealth = field(default_factory=UpstreamHealth)


@dataclass
class SessionOutcome:
    """How a session ended and what the agent should do next."""

    close_code: int | None
    reason: str
    registered: bool
    finished: bool = False

    @property
    def fatal(self) -> bool:
        return self.close_code in FATAL_CLOSE_CODES
