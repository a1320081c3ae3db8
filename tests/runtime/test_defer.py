"""Deferred replies: an actor answers an ask later; values nobody took are handed back."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from switchyard.runtime import Actor, ActorSystem, AskTimeout, ChildSpec, Reply

from ..polling import wait_until


class Turnstile(Actor):
    """Parks every "wait" ask; an "open" tell answers all parked asks with a ticket."""

    def __init__(self) -> None:
        self.parked: list[Reply] = []
        self.issued = 0
        self.returned: list[int] = []

    async def handle(self, msg: Any) -> Any:
        if msg == "wait":
            self.parked.append(self.defer())
            return "ignored"
        if msg == "open":
            parked, self.parked = self.parked, []
            for reply in parked:
                self.issued += 1
                reply.set(self.issued, on_lost=lambda ticket: self.ref.tell(("back", ticket)))
            return None
        if isinstance(msg, tuple) and msg[0] == "back":
            self.returned.append(msg[1])
            return None
        return {"parked": len(self.parked), "issued": self.issued, "returned": self.returned}


async def test_deferred_reply_arrives_later() -> None:
    async with ActorSystem.open([ChildSpec("t", Turnstile)]) as system:
        ref = system.lookup("t")
        results: list[int] = []

        async def waiter() -> None:
            results.append(await ref.ask("wait"))

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(waiter)
            await wait_until(lambda: system.snapshot()["tree"]["children"][0]["handled"] == 3)
            ref.tell("open")
        assert sorted(results) == [1, 2, 3]


async def test_value_for_an_abandoned_ask_goes_to_on_lost() -> None:
    async with ActorSystem.open([ChildSpec("t", Turnstile)]) as system:
        ref = system.lookup("t")
        with pytest.raises(AskTimeout):
            await ref.ask("wait", timeout=0.02)
        ref.tell("open")  # the grant finds its asker gone: on_lost tells ("back", 1)
        await ref.ask("state")  # queued before ("back", 1) ...
        state = await ref.ask("state")  # ... so this one sees it
        assert state == {"parked": 0, "issued": 1, "returned": [1]}


def test_value_set_but_not_taken_goes_to_on_lost() -> None:
    # The race the runtime closes: the reply is set, then the asker is cancelled before
    # it reads it (ask() calls abandon() on every exit that did not take the value).
    lost: list[int] = []
    reply = Reply()
    assert reply.set(7, on_lost=lost.append) is True
    reply.abandon()
    assert lost == [7]
    late = Reply()
    late.abandon()
    assert late.set(8, on_lost=lost.append) is False
    assert lost == [7, 8]
