"""SelfServiceState: the in-process parts of self-service that one coordinator owns.

The passphrase hasher (its thread limiter) and the attempt throttles. `Coordinator` holds
one; routes and the dashboard reach it through the coordinator, never a global.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.limits import (
    AUTH_ATTEMPTS_PER_ADDRESS,
    LOGIN_FAILURES_PER_NAME,
    LOGIN_WINDOW_S,
    THROTTLE_MAX_KEYS,
)
from .passwords import Passwords
from .throttle import AttemptThrottle


def _name_throttle() -> AttemptThrottle:
    return AttemptThrottle(LOGIN_FAILURES_PER_NAME, LOGIN_WINDOW_S, THROTTLE_MAX_KEYS)


def _address_throttle() -> AttemptThrottle:
    return AttemptThrottle(AUTH_ATTEMPTS_PER_ADDRESS, LOGIN_WINDOW_S, THROTTLE_MAX_KEYS)


@dataclass
class SelfServiceState:
    """Hasher and throttles (per login name: failures; per client address: attempts)."""

    passwords: Passwords = field(default_factory=Passwords)
    login_failures: AttemptThrottle = field(default_factory=_name_throttle)
    address_attempts: AttemptThrottle = field(default_factory=_address_throttle)
