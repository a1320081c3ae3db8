"""SchedulerActor wait queues: FIFO, deadlines, bound, abandoned askers, departures, stop."""

from __future__ import annotations

import pytest
import trio

from switchyard.actors.scheduler_messages import (
    NoCapacity,
    Reservation,
    Reserve,
    SchedulerConfig,
)
from switchyard.runtime import ActorStopped, Ask, AskTimeout, Reply, UnhandledMessage

from ..polling import wait_until
from .sched_harness import Harness, running_scheduler

LONG = 1000.0  # a deadline that never passes during a test


async def park(
    h: Harness, nursery: trio.Nursery, results: list, tag: str, **kwargs: object
) -> None:
    """Start a Reserve in the background and wait until the scheduler has queued it."""
    before = (await h.stats())["counters"]["queued"]

    async def waiter() -> None:
        results.append((tag, await h.reserve(**kwargs)))

    nursery.start_soon(waiter)
    await h.until_counter("queued", before + 1)


async def test_release_grants_queue_head_in_fifo_order() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("p", slots=1)
        held = await h.grant()
        results: list = []
        for tag in ("first", "second", "third"):
            await park(h, nursery, results, tag, wait=LONG)
        for expected in ("first", "second", "third"):
            h.release(held)
            await wait_until(lambda: len(results) >= 1, timeout=10)
            tag, held = results.pop()
            assert tag == expected and isinstance(held, Reservation)
        h.release(held)
        assert (await h.stats())["reserved_total"] == 0


async def test_newcomer_does_not_jump_the_queue() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("p", slots=1)
        held = await h.grant()
        results: list = []
        await park(h, nursery, results, "waiter", wait=LONG)
        h.release(held)  # processed before the newcomer's Reserve (mailbox order)
        newcomer = await h.reserve(wait=0)
        assert isinstance(newcomer, NoCapacity)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        assert results[0][0] == "waiter" and isinstance(results[0][1], Reservation)


async def test_deadline_passes_to_no_capacity(autojump_clock: trio.abc.Clock) -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("p", slots=1)
        held = await h.grant()
        results: list = []
        await park(h, nursery, results, "late", wait=100.0)
        await park(h, nursery, results, "early", wait=5.0)  # earlier deadline re-arms the timer
        await wait_until(lambda: len(results) >= 1, timeout=10)
        tag, answer = results.pop()
        assert tag == "early"
        assert isinstance(answer, NoCapacity) and answer.reason == "timeout"
        assert answer.retry_after_s >= 1.0 and not answer.queue_full
        assert (await h.stats())["queued_total"] == 1
        h.release(held)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        tag, answer = results.pop()
        assert tag == "late" and isinstance(answer, Reservation)
        stats = await h.stats()
        assert stats["counters"]["refused_timeout"] == 1 and stats["queued_total"] == 0


async def test_queue_bound_overflows_at_once() -> None:
    config = SchedulerConfig(queue_limit=2, seed=1)
    async with running_scheduler(config) as h, trio.open_nursery() as nursery:
        await h.offer("p", slots=1)
        held = await h.grant()
        results: list = []
        await park(h, nursery, results, "a", wait=LONG)
        await park(h, nursery, results, "b", wait=LONG)
        overflow = await h.reserve(wait=LONG)
        assert isinstance(overflow, NoCapacity)
        assert overflow.queue_full and overflow.reason == "queue_full"
        assert overflow.retry_after_s >= 1.0
        await h.offer("p2", "m2", slots=1)
        assert isinstance(await h.reserve(model="m2", wait=LONG), Reservation)  # per model
        h.release(held)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        assert results[0][0] == "a"
        nursery.cancel_scope.cancel()


async def test_full_queue_makes_room_for_abandoned_waiters() -> None:
    config = SchedulerConfig(queue_limit=1, seed=1)
    async with running_scheduler(config) as h:
        await h.offer("p", slots=1)
        held = await h.grant()
        with pytest.raises(AskTimeout):
            await h.sched.ask(Reserve("m", 1, 1, deadline=trio.current_time() + LONG), timeout=0.05)
        async with trio.open_nursery() as nursery:
            results: list = []
            # admitted although the queue holds one: that one's asker gave up, so it is purged
            await park(h, nursery, results, "next", wait=LONG)
            h.release(held)
            await wait_until(lambda: len(results) >= 1, timeout=10)
        assert isinstance(results[0][1], Reservation)
        assert (await h.stats())["counters"]["abandoned"] == 1


async def test_abandoned_waiter_is_skipped_and_slot_not_leaked() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=1)
        held = await h.grant()
        with pytest.raises(AskTimeout):
            await h.sched.ask(Reserve("m", 1, 1, deadline=trio.current_time() + LONG), timeout=0.05)
        h.release(held)
        stats = await h.stats()
        assert stats["reserved_total"] == 0 and stats["queued_total"] == 0
        assert stats["counters"]["abandoned"] == 1
        assert isinstance(await h.reserve(), Reservation)


async def test_grant_whose_asker_vanished_comes_back() -> None:
    # What `ask` does when it is cancelled after the reply was set but before it read it:
    # it abandons the reply, and the scheduler must take the reservation back.
    async with running_scheduler() as h:
        await h.offer("p", slots=1)
        reply = Reply()
        h.sched.tell(Ask(Reserve("m", 1, 1, deadline=trio.current_time() + LONG), reply))
        await reply.event.wait()
        assert isinstance(reply.value, Reservation)
        assert (await h.stats())["reserved_total"] == 1
        reply.abandon()
        stats = await h.stats()
        assert stats["reserved_total"] == 0 and stats["counters"]["grants_lost"] == 1
        h.release(reply.value)  # a late Release of the lost grant is a counted no-op
        assert (await h.stats())["counters"]["release_unknown"] == 1
        assert isinstance(await h.reserve(), Reservation)


async def test_head_blocked_by_trust_floor_or_exclusion_does_not_block_others() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("signed", slots=1)
        await h.offer("attested", slots=1, trust="hardware")
        on_attested = await h.grant(min_trust="hardware")
        on_signed = await h.grant()
        assert on_signed.provider_id == "signed"
        results: list = []
        # each waiter has an eligible provider online (busy), so each waits
        await park(h, nursery, results, "needs_hw", min_trust="hardware", wait=LONG)
        await park(h, nursery, results, "not_signed", exclude={"signed"}, wait=LONG)
        await park(h, nursery, results, "anyone", wait=LONG)
        h.release(on_signed)  # of no use to the first two
        await wait_until(lambda: len(results) >= 1, timeout=10)
        assert results.pop()[0] == "anyone"
        assert (await h.stats())["queued_total"] == 2
        h.release(on_attested)  # the head may use it
        await wait_until(lambda: len(results) >= 1, timeout=10)
        assert results.pop()[0] == "needs_hw"
        await h.offer("other", slots=1)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        tag, grant = results.pop()
        assert tag == "not_signed" and grant.provider_id == "other"


async def test_capacity_update_adding_slots_grants_waiters() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("p", slots=1)
        await h.grant()
        results: list = []
        await park(h, nursery, results, "w1", wait=LONG)
        await park(h, nursery, results, "w2", wait=LONG)
        await h.offer("p", slots=2)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        assert results.pop()[0] == "w1"
        await h.offer("q", slots=1)
        await wait_until(lambda: len(results) >= 1, timeout=10)
        assert results.pop()[0] == "w2"
        assert (await h.stats())["reserved_total"] == 3


async def test_provider_gone_drops_its_reservations() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=2)
        await h.offer("q", slots=1, prefill=1000, decode=10)  # slower: used last
        on_p = [await h.grant(), await h.grant()]
        on_q = await h.grant()
        assert {r.provider_id for r in on_p} == {"p"} and on_q.provider_id == "q"
        h.gone("p")
        stats = await h.stats()
        assert stats["reserved_total"] == 1 and stats["counters"]["dropped_by_gone"] == 2
        for r in on_p:
            h.release(r)
        h.release(on_q)
        h.release(on_q)  # duplicate
        stats = await h.stats()
        assert stats["reserved_total"] == 0
        assert stats["counters"]["release_unknown"] == 3
        assert stats["providers_known"] == 1
        assert (await h.grant()).provider_id == "q"


async def test_stop_fails_waiters_and_restart_starts_empty() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=1)
        await h.grant()
        failures: list[BaseException] = []

        async def waiter() -> None:
            try:
                await h.reserve(wait=LONG)
            except ActorStopped as exc:
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await h.until_queued(1)
            with pytest.raises(UnhandledMessage):
                await h.sched.ask("crash please")
        assert len(failures) == 1
        stats = await h.stats()  # the supervisor restarted it, empty
        assert stats["reserved_total"] == 0 and stats["providers_known"] == 0
        assert h.system.snapshot()["totals"]["restarts"] == 1


async def test_snapshot_shows_reserved_slots_and_queue() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("p", slots=1)
        await h.grant()
        await park(h, nursery, [], "w", wait=LONG)
        nodes = h.system.snapshot()["tree"]["children"]
        (sched,) = [n for n in nodes if n["path"] == "/root/scheduler"]
        assert sched["state"]["reserved_slots"] == 1 and sched["state"]["queued"] == 1
        nursery.cancel_scope.cancel()
