"""The one way tests wait for observable state: poll a predicate until it holds.

`wait_until` takes a plain function or an async one, so the same helper waits on an
actor's snapshot, a harness's recorded frames or an HTTP endpoint. It returns the first
truthy value the predicate produced, so a test can wait for a thing and use it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 15.0  # generous: CI machines stall at load 7-8; a pass returns at once
DEFAULT_INTERVAL_S = 0.01


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
) -> T:
    """Call `predicate` (sync or async) every `interval` seconds until it returns a truthy
    value, and return that value.

    Fails the test with an `AssertionError` naming the predicate and its last value when
    nothing truthy came within `timeout` seconds. An exception raised by the predicate
    propagates at once (a predicate can fail fast on a state that can never recover).
    """
    last: object = None
    with trio.move_on_after(timeout):
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            last = value
            await trio.sleep(interval)
    name = getattr(predicate, "__qualname__", repr(predicate))
    raise AssertionError(f"{name} did not hold within {timeout:g}s (last value: {last!r})")
