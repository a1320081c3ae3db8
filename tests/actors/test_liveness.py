"""HeartbeatWatch: silence is counted from the last heartbeat, minus the coordinator's own
lateness at the last few ticks (bounded), so only a silent provider is disconnected."""

from __future__ import annotations

from switchyard.actors.liveness import HeartbeatWatch


def test_a_provider_silent_past_the_misses_is_too_silent() -> None:
    watch = HeartbeatWatch(interval_s=1.0, misses=3, now=0.0)
    assert not watch.too_silent(now=1.0, due=1.0)
    assert not watch.too_silent(now=3.0, due=3.0)
    assert watch.too_silent(now=3.5, due=3.5)


def test_a_heartbeat_restarts_the_count() -> None:
    watch = HeartbeatWatch(interval_s=1.0, misses=3, now=0.0)
    watch.heard(2.9)
    assert not watch.too_silent(now=5.5, due=5.5)
    assert watch.too_silent(now=6.0, due=6.0)


def test_the_coordinators_lateness_is_not_the_providers_silence() -> None:
    watch = HeartbeatWatch(interval_s=1.0, misses=3, now=0.0)
    # The loop was 4 s behind: the tick due at 1.0 ran at 5.0, heartbeats unread meanwhile.
    assert not watch.too_silent(now=5.0, due=1.0)
    watch.heard(5.0)  # the queued heartbeat is read right after
    assert not watch.too_silent(now=6.0, due=6.0)


def test_the_excuse_is_bounded_so_a_silent_provider_still_goes() -> None:
    watch = HeartbeatWatch(interval_s=1.0, misses=3, now=0.0)
    assert not watch.too_silent(now=5.0, due=1.0)  # 4 s late: excused this once
    now = 5.0
    while not watch.too_silent(now=now, due=now):  # punctual ticks push the excuse out
        now += 1.0
        assert now < 20.0, "a provider silent for good must be disconnected"
    assert now <= 4.0 + 3.0 + 3.0  # at most the last `misses` ticks' lateness is excused
