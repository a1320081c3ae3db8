"""TimedStore: a Store wrapper that reports each call's latency to a callback."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any


class TimedStore:
    """Delegates every attribute to `inner`; async methods report (name, seconds)."""

    def __init__(self, inner: Any, observe: Callable[[str, float], None]) -> None:
        self._inner = inner
        self._observe = observe

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        observe = self._observe

        @functools.wraps(attr)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                observe(name, time.perf_counter() - start)

        setattr(self, name, timed)  # cache: later lookups skip __getattr__
        return timed
