"""SchedulerActor refusals: only a Reserve some busy eligible provider could serve waits.

Everything else is answered at once with the reason: unknown model, known but offline,
trust floor unmet, every eligible provider excluded; and a waiter whose last eligible
provider leaves is answered when it leaves.
"""

from __future__ import annotations

import trio

from switchyard.actors.scheduler_messages import (
    ModelCapacity,
    NoCapacity,
    NoCapacityReason,
    Reservation,
    SchedulerConfig,
)

from ..polling import wait_until
from .sched_harness import running_scheduler
from .test_scheduler_queue import LONG, park


async def refused(h: object, reason: NoCapacityReason, **kwargs: object) -> NoCapacity:
    """Reserve with a deadline that never passes; insist on an immediate refusal."""
    result = await h.reserve(wait=LONG, **kwargs)  # type: ignore[attr-defined]
    assert isinstance(result, NoCapacity), result
    assert result.reason == reason and not result.queue_full
    assert result.retry_after_s >= (0.0 if reason == NoCapacityReason.UNKNOWN_MODEL else 1.0)
    return result


async def test_trust_floor_nobody_meets_is_refused_at_once() -> None:
    async with running_scheduler() as h:
        await h.offer("signed", slots=4)
        await refused(h, NoCapacityReason.TRUST, min_trust="hardware")
        await h.offer("rogue", slots=4, trust="untrusted")
        await refused(h, NoCapacityReason.TRUST, min_trust="hardware")
        stats = await h.stats()
        assert stats["counters"]["queued"] == 0 and stats["counters"]["refused_trust"] == 2


async def test_every_eligible_provider_excluded_is_refused_at_once() -> None:
    async with running_scheduler() as h:
        await h.offer("a", slots=2)
        await h.offer("rogue", slots=2, trust="untrusted")  # not eligible anyway
        await refused(h, NoCapacityReason.EXCLUDED, exclude={"a"})
        # excluding a provider that does not serve the model changes nothing
        assert isinstance(await h.reserve(exclude={"zzz"}), Reservation)
        assert (await h.stats())["counters"]["queued"] == 0


async def test_eligible_but_busy_still_waits() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("a", slots=1)
        await h.offer("b", slots=1)
        held = await h.grant(exclude={"b"})
        other = await h.grant()
        assert {held.provider_id, other.provider_id} == {"a", "b"}
        results: list = []
        await park(h, nursery, results, "not_b", exclude={"b"}, wait=LONG)
        h.release(held)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        tag, grant = results.pop()
        assert tag == "not_b" and grant.provider_id == "a"


async def test_known_model_with_nobody_online_is_offline_not_unknown() -> None:
    async with running_scheduler() as h:
        await h.offer("p", {"a": ModelCapacity(1), "b": ModelCapacity(1)})
        await h.offer("p", "a", slots=1)  # p stops offering b
        await refused(h, NoCapacityReason.OFFLINE, model="b")
        await h.offer("p", "a", slots=1, routable=False)  # p turns unroutable
        await refused(h, NoCapacityReason.OFFLINE, model="a")
        h.gone("p")
        await refused(h, NoCapacityReason.OFFLINE, model="a")
        await refused(h, NoCapacityReason.UNKNOWN_MODEL, model="never-offered")
        assert set(await h.models(include_offline=True)) == {"a", "b"}


async def test_offline_models_are_forgotten_after_the_window(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = SchedulerConfig(seed=1, known_window_s=600.0, known_limit=2)
    async with running_scheduler(config) as h:
        for name in ("a", "b", "c"):
            await h.offer(f"p-{name}", name, slots=1)
        for name in ("a", "b", "c"):
            h.gone(f"p-{name}")
        # at most two offline models are remembered: the one gone longest is forgotten
        await refused(h, NoCapacityReason.UNKNOWN_MODEL, model="a")
        await refused(h, NoCapacityReason.OFFLINE, model="b")
        await refused(h, NoCapacityReason.OFFLINE, model="c")
        await trio.sleep(601)
        await refused(h, NoCapacityReason.UNKNOWN_MODEL, model="c")
        assert await h.models(include_offline=True) == {}
        await h.offer("p-c", "c", slots=1)  # a model online is known whatever its age
        await trio.sleep(601)
        assert isinstance(await h.reserve(model="c"), Reservation)


async def test_waiter_is_answered_when_its_last_eligible_provider_leaves() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("signed", slots=1)
        await h.offer("attested", slots=1, trust="hardware")
        await h.grant(min_trust="hardware")
        await h.grant()
        results: list = []
        await park(h, nursery, results, "needs_hw", min_trust="hardware", wait=LONG)
        await park(h, nursery, results, "anyone", wait=LONG)
        await h.offer("attested", slots=1, trust="hardware", routable=False)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        tag, answer = results.pop()
        assert tag == "needs_hw" and answer.reason == NoCapacityReason.TRUST
        assert (await h.stats())["queued_total"] == 1  # "anyone" still has "signed"
        h.gone("signed")
        await wait_until(lambda: len(results) >= 1, timeout=10)
        tag, answer = results.pop()
        assert tag == "anyone" and answer.reason == NoCapacityReason.OFFLINE
        stats = await h.stats()
        assert stats["queued_total"] == 0 and stats["reserved_total"] == 1
