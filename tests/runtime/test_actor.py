"""Actor, ActorRef, mailbox and ask semantics."""

from __future__ import annotations

import pytest

from switchyard.runtime import (
    ActorStopped,
    ActorSystem,
    AskTimeout,
    ChildSpec,
    MailboxFull,
    Restart,
    UnhandledMessage,
)

from ..polling import wait_until
from .toys import Add, Crash, CrashLater, Exit, Get, Sleep, counter


async def test_tell_then_ask_sees_messages_in_order() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        for n in range(1, 11):
            ref.tell(Add(n))
        assert await ref.ask(Get()) == 55


async def test_ask_reraises_handler_exception_at_the_asker() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        with pytest.raises(ValueError, match="kaput"):
            await ref.ask(Crash("kaput"))


async def test_unknown_message_is_a_typed_error() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        with pytest.raises(UnhandledMessage):
            await system.lookup("c").ask("what is this")


async def test_ask_times_out() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))], shutdown_timeout=0.5) as system:
        with pytest.raises(AskTimeout):
            await system.lookup("c").ask(Sleep(10), timeout=0.05)


async def test_asking_a_stopped_actor_raises_actor_stopped() -> None:
    spec = ChildSpec("c", counter("c"), restart=Restart.TRANSIENT)
    async with ActorSystem.open([spec]) as system:
        ref = system.lookup("c")
        assert await ref.ask(Exit()) == "bye"
        await wait_until(lambda: not ref.alive)
        with pytest.raises(ActorStopped):
            await ref.ask(Get())
        before = system.dead_letters
        ref.tell(Add(1))  # fire and forget: counted, not raised
        assert system.dead_letters == before + 1


async def test_mailbox_overflow_raises() -> None:
    spec = ChildSpec("c", counter("c"), mailbox_size=4)
    async with ActorSystem.open([spec], shutdown_timeout=0.5) as system:
        ref = system.lookup("c")
        ref.tell(Sleep(0.2))  # keeps the actor busy while we fill its mailbox
        await wait_until(lambda: _mailbox(system)["depth"] == 0)  # it is handling Sleep
        for _ in range(4):
            ref.tell(Add(1))
        with pytest.raises(MailboxFull):
            ref.tell(Add(1))
        assert _mailbox(system) == {"depth": 4, "capacity": 4}
        assert await ref.ask(Get()) == 4  # ask waits for room instead of failing


async def test_ref_survives_restart_and_reaches_new_instance() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        await ref.ask(Add(5))
        with pytest.raises(ValueError):
            await ref.ask(Crash())
        # The new instance starts from scratch, reached through the same ref.
        assert await ref.ask(Get()) == 0
        assert await ref.ask(Add(2)) == 2
        assert system.lookup("c") == ref
        assert system.snapshot()["tree"]["children"][0]["restarts"] == 1


async def test_crash_in_helper_task_crashes_the_actor() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        await ref.ask(Add(3))
        await ref.ask(CrashLater(0.01))
        await wait_until(lambda: system.snapshot()["tree"]["children"][0]["restarts"] == 1)
        node = system.snapshot()["tree"]["children"][0]
        assert node["last_error"]["type"] == "RuntimeError"
        assert await ref.ask(Get()) == 0


async def test_messages_queued_during_restart_are_delivered() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        ref.tell(Crash())
        ref.tell(Add(1))
        ref.tell(Add(2))
        assert await ref.ask(Get()) == 3


async def test_refusal_goes_to_asker_without_crashing() -> None:
    from switchyard.runtime import Actor, Refusal

    class NotToday(Refusal):
        pass

    class Grumpy(Actor):
        def __init__(self) -> None:
            self.asked = 0

        async def handle(self, msg: object) -> int:
            self.asked += 1
            if msg == "no":
                raise NotToday("not today")
            return self.asked

    async with ActorSystem.open([ChildSpec("g", Grumpy)]) as system:
        ref = system.lookup("g")
        with pytest.raises(NotToday):
            await ref.ask("no")
        assert await ref.ask("yes") == 2  # same instance: state kept, no restart
        assert system.snapshot()["tree"]["children"][0]["restarts"] == 0


def _mailbox(system: ActorSystem) -> dict[str, int]:
    return system.snapshot()["tree"]["children"][0]["mailbox"]
