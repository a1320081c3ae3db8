"""ActorRef.tell_or_send: tell when there is room, else wait for room (shielded if bounded)."""

from __future__ import annotations

import trio

from switchyard.runtime import ActorRef, ActorSystem, ChildSpec

from ..polling import wait_until
from .toys import Add, Get, Park, counter


def _one_slot(shutdown_timeout: float = 5.0) -> ChildSpec:
    return ChildSpec("c", counter("c"), mailbox_size=1, shutdown_timeout=shutdown_timeout)


def _depth(system: ActorSystem) -> int:
    return system.snapshot()["tree"]["children"][0]["mailbox"]["depth"]


def _senders_waiting(ref: ActorRef) -> int:
    return ref._cell.send_channel.statistics().tasks_waiting_send


async def _park_and_fill(system: ActorSystem, ref: ActorRef, release: trio.Event) -> None:
    """Keep the actor busy until `release` and fill its one-slot mailbox with Add(1)."""
    ref.tell(Park(release))
    await wait_until(lambda: _depth(system) == 0)  # the actor took Park and is parked
    ref.tell(Add(1))


async def test_with_room_it_delivers_without_a_scheduling_point() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        with trio.CancelScope() as scope:
            scope.cancel()  # any checkpoint in tell_or_send would raise Cancelled here
            assert await ref.tell_or_send(Add(2)) is True
            assert await ref.tell_or_send(Add(3), timeout=1) is True
        assert not scope.cancelled_caught
        assert await ref.ask(Get()) == 5


async def test_without_timeout_it_waits_for_room_then_delivers() -> None:
    async with ActorSystem.open([_one_slot()]) as system:
        ref, release = system.lookup("c"), trio.Event()
        await _park_and_fill(system, ref, release)
        results: list[bool] = []

        async def sender() -> None:
            results.append(await ref.tell_or_send(Add(10)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            await wait_until(lambda: _senders_waiting(ref) == 1)
            release.set()
        assert results == [True]
        assert await ref.ask(Get()) == 11


async def test_without_timeout_the_wait_is_cancellable_and_nothing_is_sent() -> None:
    async with ActorSystem.open([_one_slot()]) as system:
        ref, release = system.lookup("c"), trio.Event()
        await _park_and_fill(system, ref, release)
        results: list[bool] = []

        async def sender() -> None:
            results.append(await ref.tell_or_send(Add(10)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            await wait_until(lambda: _senders_waiting(ref) == 1)
            nursery.cancel_scope.cancel()
        release.set()
        assert results == []
        assert await ref.ask(Get()) == 1


async def test_a_bounded_wait_outlives_the_callers_cancellation() -> None:
    async with ActorSystem.open([_one_slot()]) as system:
        ref, release = system.lookup("c"), trio.Event()
        await _park_and_fill(system, ref, release)
        results: list[bool] = []
        caller = trio.CancelScope()

        async def sender() -> None:
            with caller:
                results.append(await ref.tell_or_send(Add(10), timeout=30))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            await wait_until(lambda: _senders_waiting(ref) == 1)
            caller.cancel()  # the caller gives up while waiting for room...
            release.set()  # ...and the message still goes in once there is room
        assert results == [True]
        assert await ref.ask(Get()) == 11


async def test_a_bounded_wait_gives_up_at_its_timeout_as_a_dead_letter() -> None:
    async with ActorSystem.open([_one_slot()]) as system:
        ref, release = system.lookup("c"), trio.Event()
        await _park_and_fill(system, ref, release)
        before = system.dead_letters
        assert await ref.tell_or_send(Add(10), timeout=0.05) is False
        assert system.dead_letters == before + 1
        release.set()
        assert await ref.ask(Get()) == 1


async def test_a_stopped_actor_is_a_dead_letter_not_an_error() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        await system.stop("/root/c")
        before = system.dead_letters
        assert await ref.tell_or_send(Add(1)) is False
        assert await ref.tell_or_send(Add(1), timeout=1) is False
        assert system.dead_letters == before + 2


async def test_an_actor_stopping_while_the_sender_waits_is_a_dead_letter() -> None:
    async with ActorSystem.open([_one_slot(shutdown_timeout=0.05)]) as system:
        ref, release = system.lookup("c"), trio.Event()
        await _park_and_fill(system, ref, release)
        results: list[bool] = []

        async def sender() -> None:
            results.append(await ref.tell_or_send(Add(10), timeout=30))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            await wait_until(lambda: _senders_waiting(ref) == 1)
            before = system.dead_letters
            assert await system.stop("/root/c") is True
        assert results == [False]
        assert not ref.alive
        assert system.dead_letters == before + 2  # Add(1) left in the mailbox, and Add(10)
