"""SelfServiceState: the in-process parts of self-service that one coordinator owns.

The passphrase hasher (its thread limiter), the attempt throttles and the public-stats
cache. `Coordinator` holds one; routes and the dashboard reach it through the
coordinator, never a global. Alone, the throttles count in memory (`LocalThrottle`); in
a cluster the coordinator builds the state with `with_throttles`, wrapping each local
throttle in the cluster's shared one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from ..protocol.limits import (
    AUTH_ATTEMPTS_PER_ADDRESS,
    DEVICE_APPROVAL_FAILURES,
    LOGIN_FAILURES_PER_NAME,
    LOGIN_WINDOW_S,
    THROTTLE_MAX_KEYS,
)
from .passwords import Passwords
from .stats import PublicStats
from .throttle import AttemptThrottle, LocalThrottle, Throttle


class ThrottleName(StrEnum):
    """The self-service throttles (also their names in the cluster's KV bucket)."""

    LOGIN_FAILURES = "login"  # failed logins per login name
    ADDRESS_ATTEMPTS = "address"  # sign-up/login/device-code attempts per client address
    DEVICE_FAILURES = "device"  # wrong device codes per account


LIMITS: dict[ThrottleName, int] = {
    ThrottleName.LOGIN_FAILURES: LOGIN_FAILURES_PER_NAME,
    ThrottleName.ADDRESS_ATTEMPTS: AUTH_ATTEMPTS_PER_ADDRESS,
    ThrottleName.DEVICE_FAILURES: DEVICE_APPROVAL_FAILURES,
}


def attempt_throttle(name: ThrottleName) -> AttemptThrottle:
    """A fresh in-memory throttle with `name`'s limit and the login window."""
    return AttemptThrottle(LIMITS[name], LOGIN_WINDOW_S, THROTTLE_MAX_KEYS)


def _local(name: ThrottleName) -> Callable[[], Throttle]:
    return lambda: LocalThrottle(attempt_throttle(name))


@dataclass
class SelfServiceState:
    """Hasher, throttles (per login name: failures; per client address: attempts; per
    account: wrong device codes) and the public-stats cache."""

    passwords: Passwords = field(default_factory=Passwords)
    login_failures: Throttle = field(default_factory=_local(ThrottleName.LOGIN_FAILURES))
    address_attempts: Throttle = field(default_factory=_local(ThrottleName.ADDRESS_ATTEMPTS))
    device_failures: Throttle = field(default_factory=_local(ThrottleName.DEVICE_FAILURES))
    stats: PublicStats = field(default_factory=PublicStats)

    @classmethod
    def with_throttles(
        cls, wrap: Callable[[ThrottleName, AttemptThrottle], Throttle]
    ) -> SelfServiceState:
        """A state whose throttles are `wrap(name, its in-memory throttle)` (the cluster's
        shared throttles, which fall back to the in-memory one while NATS is away)."""

        def made(name: ThrottleName) -> Throttle:
            return wrap(name, attempt_throttle(name))

        return cls(
            login_failures=made(ThrottleName.LOGIN_FAILURES),
            address_attempts=made(ThrottleName.ADDRESS_ATTEMPTS),
            device_failures=made(ThrottleName.DEVICE_FAILURES),
        )
