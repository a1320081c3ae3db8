"""AttemptThrottle: fixed-window counters per key (login name, client address), bounded.

At most `max_keys` keys are remembered; the least recently touched is forgotten first, so
memory stays bounded whatever names or addresses an attacker sends. Pure and synchronous
(a monotonic clock is injected), so it is tested without sleeping.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


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
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def _current(self, key: str) -> tuple[float, int] | None:
        window = self._windows.get(key)
        if window is not None and self._clock() - window[0] >= self.window_s:
            del self._windows[key]
            return None
        return window

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it may now."""
        window = self._current(key)
        if window is None or window[1] < self.limit:
            return None
        return max(0.0, window[0] + self.window_s - self._clock())

    def hit(self, key: str) -> None:
        """Count one attempt (or failure) of `key`."""
        window = self._current(key)
        start, count = window if window is not None else (self._clock(), 0)
        self._windows[key] = (start, count + 1)
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)

    def clear(self, key: str) -> None:
        """Forget `key` (a successful login clears its name's failures)."""
        self._windows.pop(key, None)
