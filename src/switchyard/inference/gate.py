"""RequestGate: counts consumer requests in progress; closes for new ones at shutdown."""

from __future__ import annotations

import trio


class RequestGate:
    """Counts consumer requests in progress; closes for new ones when shutting down.

    The coordinator keeps one; `ConsumerRequest` enters it first and leaves it last, and
    `Coordinator.drain` closes it and waits for the count to reach zero.
    """

    def __init__(self) -> None:
        self.accepting = True
        self.active = 0
        self._idle = trio.Event()
        self._idle.set()

    def enter(self) -> bool:
        """Admit a request (False when shutting down); pair with `leave`."""
        if not self.accepting:
            return False
        self.active += 1
        if self.active == 1:
            self._idle = trio.Event()
        return True

    def leave(self) -> None:
        self.active -= 1
        if self.active == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()
