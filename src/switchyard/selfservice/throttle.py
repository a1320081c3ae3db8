"""Attempt throttles: fixed-window counters per key (login name, client address, account).

One rule, written once: `wait_of` (may a key try again, and when) and `counted` (a key's
window after one more attempt) are pure functions of a stored `(start, count)` window and
the time. `AttemptThrottle` keeps windows in memory (one process); the cluster's
`SharedThrottle` (`cluster/shared_throttle.py`) keeps them in NATS KV and applies the
same two functions.

`AttemptThrottle` remembers at most `max_keys` keys; the least recently touched is
forgotten first, so memory stays bounded whatever names or addresses an attacker sends.
It is synchronous with an injected monotonic clock, so it is tested without sleeping.
`Throttle` is what self-service calls (async: the shared one waits on NATS);
`LocalThrottle` is an `AttemptThrottle` behind it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

Window = tuple[float, int]  # (when the window opened, attempts counted in it)


def open_window(window: Window | None, now: float, window_s: float) -> Window | None:
    """`window` while it is still open at `now`, else None."""
    if window is None or now - window[0] >= window_s:
        return None
    return window


def wait_of(window: Window | None, now: float, limit: int, window_s: float) -> float | None:
    """Seconds until a key whose window is `window` may try again; None when it may now.
    (At most `window_s`: a window opened by a clock ahead of ours is not waited longer.)"""
    current = open_window(window, now, window_s)
    if current is None or current[1] < limit:
        return None
    return min(window_s, max(0.0, current[0] + window_s - now))


def counted(window: Window | None, now: float, window_s: float) -> Window:
    """`window` with one more attempt (a new window opening `now` if none is open)."""
    current = open_window(window, now, window_s)
    start, count = current if current is not None else (now, 0)
    return (start, count + 1)


class Throttle(Protocol):
    """What self-service asks of a throttle (`LocalThrottle`, or the cluster's shared one)."""

    async def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it may now."""

    async def take(self, key: str) -> float | None:
        """Count one attempt of `key` if it may try now (None); else how long to wait (and
        nothing is counted). One step, so concurrent attempts never exceed the limit."""

    async def hit(self, key: str) -> None:
        """Count one attempt (or failure) of `key`."""

    async def clear(self, key: str) -> None:
        """Forget `key` (a successful login clears its name's failures)."""


class AttemptThrottle:
    """At most `limit` hits per key within `window_s` seconds of the key's first hit."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        max_keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("limit, window_s and max_keys must be positive")
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it may now."""
        now = self._clock()
        window = self._windows.get(key)
        if window is not None and open_window(window, now, self.window_s) is None:
            del self._windows[key]
        return wait_of(window, now, self.limit, self.window_s)

    def hit(self, key: str) -> None:
        """Count one attempt (or failure) of `key`."""
        self._windows[key] = counted(self._windows.get(key), self._clock(), self.window_s)
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)

    def take(self, key: str) -> float | None:
        """`hit` if `key` may try now (None), else the wait (nothing counted)."""
        wait = self.retry_after(key)
        if wait is None:
            self.hit(key)
        return wait

    def clear(self, key: str) -> None:
        """Forget `key` (a successful login clears its name's failures)."""
        self._windows.pop(key, None)


class LocalThrottle:
    """A `Throttle` over an `AttemptThrottle` (one process: nothing is awaited)."""

    def __init__(self, counts: AttemptThrottle) -> None:
        self.counts = counts

    async def retry_after(self, key: str) -> float | None:
        return self.counts.retry_after(key)

    async def take(self, key: str) -> float | None:
        return self.counts.take(key)

    async def hit(self, key: str) -> None:
        self.counts.hit(key)

    async def clear(self, key: str) -> None:
        self.counts.clear(key)
