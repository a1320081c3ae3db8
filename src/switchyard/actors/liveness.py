"""HeartbeatWatch: when a provider has been silent for too long (pure; the actor asks).

A provider is disconnected after `heartbeat_misses` heartbeat intervals without one. The
coordinator's own slowness is not the provider's silence: a tick handled late means
heartbeats may be waiting unread just as long, so the lateness of the last
`heartbeat_misses` ticks is not counted. An overloaded coordinator kicks no one; a silent
provider still goes, as its silence keeps growing while the excused lateness is bounded.
"""

from __future__ import annotations

from collections import deque


class HeartbeatWatch:
    """The last heartbeat heard and the lateness of recent ticks (see the module)."""

    def __init__(self, interval_s: float, misses: int, now: float) -> None:
        self.interval_s = interval_s
        self.misses = misses
        self.last_heard = now
        self._lateness: deque[float] = deque(maxlen=misses)

    def heard(self, now: float) -> None:
        """A heartbeat arrived at `now`."""
        self.last_heard = now

    def too_silent(self, now: float, due: float) -> bool:
        """At a tick due at `due` and handled at `now`: has the provider been silent for
        more than `misses` intervals, not counting the coordinator's own lateness?"""
        self._lateness.append(max(0.0, now - due))
        silence = now - self.last_heard - sum(self._lateness)
        return silence > self.interval_s * self.misses
