"""The session's only writer: frames in order, stream deltas packed across requests.

Every outgoing frame goes through one queue, tagged with its request; frames of a request
that was cancelled or abandoned are dropped at send time. Stream deltas do not go out one
frame per token: the writer sends the first delta of a request and every other frame at
once, and otherwise waits up to `window` seconds after its previous write, then packs all
the deltas that are ready — of every request — into one `chunk_batch` frame (a plain
`chunk` frame when they all belong to one request). No delta is held longer than
`window`; at high concurrency the coordinator reads a few frames a window instead of one
per token. The frames themselves come from the protocol's `ChunkPacker`, sized on the
bytes sent and within `CHUNK_FRAME_BUDGET_BYTES`, well below the 1 MiB frame limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from switchyard.protocol.chunk_codec import ChunkPacker

MAX_ITEMS = 4096  # a write takes at most this many queued items
QUEUE_SIZE = 256


class Tagged(Protocol):
    """What the writer must know of a request: whether to still send its frames."""

    abandoned: bool


@dataclass(slots=True)
class Deltas:
    """Stream deltas (OpenAI-style dicts) of one request; `first` sends them at once."""

    request: Tagged
    request_id: str
    deltas: list[dict[str, str]]
    first: bool = False


Item = tuple[Tagged | None, str | trio.Event] | Deltas
SendText = Callable[[str], Awaitable[None]]


class Outbox:
    """The queue and the writer loop (`run`); see the module docstring."""

    def __init__(self, send_text: SendText, window: float) -> None:
        self._send_text = send_text
        self.window = window
        self._send, self._recv = trio.open_memory_channel[Item](QUEUE_SIZE)
        self._next_write = 0.0

    async def put(self, request: Tagged | None, text: str) -> None:
        """Queue a whole frame (already serialized)."""
        await self._send.send((request, text))

    async def put_deltas(self, deltas: Deltas) -> None:
        """Queue stream deltas of one request."""
        await self._send.send(deltas)

    async def flush(self) -> None:
        """Wait until everything queued so far has been written."""
        done = trio.Event()
        await self._send.send((None, done))
        await done.wait()

    async def run(self) -> None:
        """Write until the queue closes or the task is cancelled."""
        recv = self._recv
        while True:
            try:
                first = await recv.receive()
            except trio.EndOfChannel:
                return
            batch = [first]
            urgent = self._take_ready(batch) or _urgent(first)
            if not urgent and trio.current_time() < self._next_write:
                with trio.move_on_at(self._next_write):
                    while not urgent:
                        try:
                            item = await recv.receive()
                        except trio.EndOfChannel:
                            break
                        batch.append(item)
                        urgent = self._take_ready(batch) or _urgent(item)
            await self._write(batch)
            self._next_write = trio.current_time() + self.window

    def _take_ready(self, batch: list[Item]) -> bool:
        """Append what is queued already; True if any of it must go out now (or it is full)."""
        urgent = False
        while len(batch) < MAX_ITEMS:
            try:
                item = self._recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return urgent
            batch.append(item)
            urgent = urgent or _urgent(item)
        return True

    async def _write(self, batch: list[Item]) -> None:
        packer = ChunkPacker()  # deltas to send, a request's merged while they fit
        for item in batch:
            if type(item) is Deltas:
                if not item.request.abandoned:
                    packer.add(item.request_id, item.deltas)
                continue
            request, payload = item  # type: ignore[misc]
            if packer:  # deltas queued before this frame go out before it
                await self._write_deltas(packer)
            if isinstance(payload, trio.Event):
                payload.set()
            elif request is None or not request.abandoned:
                await self._send_text(payload)
        if packer:
            await self._write_deltas(packer)

    async def _write_deltas(self, packer: ChunkPacker) -> None:
        for text in packer.frames():
            await self._send_text(text)


def _urgent(item: Item) -> bool:
    """Anything but a request's later deltas goes out without waiting for the window."""
    return type(item) is not Deltas or item.first
