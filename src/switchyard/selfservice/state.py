"""SelfServiceState: the in-process parts of self-service that one coordinator owns.

The passphrase hasher (its thread limiter), the attempt throttles and the public-stats
cache. `Coordinator` holds
one; routes and the dashboard reach it through the coordinator, never a global.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.limits import (
    AUTH_ATTEMPTS_PER_ADDRESS,
    DEVICE_APPROVAL_FAILURES,
    LOGIN_FAILURES_PER_NAME,
    LOGIN_WINDOW_S,
    THROTTLE_MAX_KEYS,
)
from .passwords import Passwords
from .stats import PublicStats
from .throttle import AttemptThrottle


def _name_throttle() -> AttemptThrottle:
    return AttemptThrottle(LOGIN_FAILURES_PER_NAME, LOGIN_WINDOW_S, THROTTLE_MAX_KEYS)


def _address_throttle() -> AttemptThrottle:
    return AttemptThrottle(AUTH_ATTEMPTS_PER_ADDRESS, LOGIN_WINDOW_S, THROTTLE_MAX_KEYS)


def _device_throttle() -> AttemptThrottle:
    return AttemptThrottle(DEVICE_APPROVAL_FAILURES, LOGIN_WINDOW_S, THROTTLE_MAX_KEYS)


@dataclass
class SelfServiceState:
    """Hasher, throttles (per login name: failures; per client address: attempts; per
    account: wrong device codes) and the public-stats cache."""

    passwords: Passwords = field(default_factory=Passwords)
    login_failures: AttemptThrottle = field(default_factory=_name_throttle)
    address_attempts: AttemptThrottle = field(default_factory=_address_throttle)
    device_failures: AttemptThrottle = field(default_factory=_device_throttle)
    stats: PublicStats = field(default_factory=PublicStats)
