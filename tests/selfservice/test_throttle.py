"""The window rule, AttemptThrottle (windows, clearing, bounded memory) and LocalThrottle
(fake clock, no sleeping)."""

from __future__ import annotations

import pytest

from switchyard.selfservice.throttle import (
    AttemptThrottle,
    LocalThrottle,
    counted,
    open_window,
    wait_of,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_within_a_window_then_free_again() -> None:
    clock = Clock()
    throttle = AttemptThrottle(3, 60, 100, clock)
    for _ in range(3):
        assert throttle.retry_after("a") is None
        throttle.hit("a")
    assert throttle.retry_after("a") == 60
    assert throttle.retry_after("b") is None  # keys are independent
    clock.now += 45
    assert throttle.retry_after("a") == 15
    clock.now += 15
    assert throttle.retry_after("a") is None  # the window is over
    throttle.hit("a")
    assert throttle.retry_after("a") is None


def test_clear_forgets_a_key() -> None:
    throttle = AttemptThrottle(1, 60, 100, Clock())
    throttle.hit("a")
    assert throttle.retry_after("a") is not None
    throttle.clear("a")
    assert throttle.retry_after("a") is None
    throttle.clear("never-seen")


def test_memory_is_bounded_least_recent_forgotten_first() -> None:
    throttle = AttemptThrottle(1, 60, 3, Clock())
    for key in ("a", "b", "c"):
        throttle.hit(key)
    throttle.hit("a")  # a is now the most recent
    throttle.hit("d")
    assert len(throttle) == 3
    assert throttle.retry_after("b") is None  # b was forgotten
    assert throttle.retry_after("a") is not None and throttle.retry_after("c") is not None
    for i in range(10_000):
        throttle.hit(f"spray-{i}")
    assert len(throttle) == 3


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError):
        AttemptThrottle(0, 60, 10)
    with pytest.raises(ValueError):
        AttemptThrottle(1, 0, 10)


def test_the_window_rule_is_pure() -> None:
    assert wait_of(None, 50.0, 2, 60) is None
    one = counted(None, 50.0, 60)
    assert one == (50.0, 1) and wait_of(one, 55.0, 2, 60) is None
    two = counted(one, 55.0, 60)
    assert two == (50.0, 2) and wait_of(two, 55.0, 2, 60) == 55.0
    assert open_window(two, 110.0, 60) is None and wait_of(two, 110.0, 2, 60) is None
    assert counted(two, 110.0, 60) == (110.0, 1)  # a new window opens
    # a window opened by a clock ahead of ours is never waited longer than the window
    assert wait_of((100.0, 2), 40.0, 2, 60) == 60


async def test_take_counts_only_what_it_admits() -> None:
    throttle = LocalThrottle(AttemptThrottle(2, 60, 10, Clock()))
    assert [await throttle.take("a") for _ in range(3)] == [None, None, 60]
    assert len(throttle.counts) == 1 and await throttle.retry_after("a") == 60
    await throttle.clear("a")
    assert await throttle.retry_after("a") is None
    await throttle.hit("a")
    assert await throttle.take("a") is None and await throttle.take("a") == 60
