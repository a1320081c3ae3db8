"""PumpedBody: a streamed response whose parts are produced apart from the socket writes.

Quart writes a response body in the request's task: it takes a part, writes it to the
socket, and only then takes the next. A client that stops reading stalls that write, and
a producer that only runs when a part is taken would stall with it — keeping its
provider slot and its money hold until the socket closes. Here a pump task (in a nursery
that lives as long as the body is being sent) runs the producer on its own and hands
parts to the writer through a bounded backlog. When the backlog is full the client is
not keeping up: the pump calls `on_overflow` and closes the producer (which ends its
request: slot released, hold settled); the stalled write itself is bounded by the send timeout
(send_timeout.py). The writer sends everything ready as one part.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import TracebackType
from typing import Any

import trio
from quart.wrappers.response import ResponseBody

log = logging.getLogger(__name__)


class PumpedBody(ResponseBody):
    """`first`, then the parts of `parts` (see the module docstring)."""

    def __init__(
        self,
        first: bytes,
        parts: AsyncGenerator[bytes, None],
        backlog: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self.first = first
        self.parts = parts
        self.backlog = max(1, backlog)
        self.on_overflow = on_overflow
        self._nursery_cm: Any = None
        self._receive: trio.MemoryReceiveChannel[bytes] | None = None

    async def __aenter__(self) -> PumpedBody:
        send, self._receive = trio.open_memory_channel[bytes](self.backlog)
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        nursery.start_soon(self._pump, send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the pump if it still runs (the client went away), then wait for it.

        Nothing here cancels the nursery's own scope, so it has no exception of ours to
        swallow: it re-raises (with any pump error), and so does this, as Quart's
        `ResponseBody.__aexit__` (which returns None) expects.
        """
        if self._receive is not None:
            self._receive.close()  # a pump still producing sees the writer gone
        await self._nursery_cm.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._write_parts()

    async def _write_parts(self) -> AsyncIterator[bytes]:
        yield self.first
        receive = self._receive
        assert receive is not None
        async for part in receive:
            ready = [part]
            while True:
                try:
                    ready.append(receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            yield b"".join(ready)

    async def _pump(self, send: trio.MemorySendChannel[bytes]) -> None:
        """Run the producer to its end; closing it early releases what it holds."""
        async with send, contextlib.aclosing(self.parts) as parts:
            async for part in parts:
                try:
                    send.send_nowait(part)
                except trio.WouldBlock:
                    log.info("client is not reading its stream: ending it")
                    self.on_overflow()
                    return
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return  # the writer is gone (client disconnected)


__all__ = ["PumpedBody"]
