"""One request's generation: backend events → packed `chunk` frames → one terminal frame.

A producer task iterates the backend and feeds a small channel; the packer drains it. The
first token goes out at once; after each frame, tokens that arrive within `window` seconds
are packed into the next frame, so no token is held longer than `window` (about 10 ms)
and a fast stream sends at most one frame per window. A frame never carries more than
`MAX_CHARS_PER_FRAME` characters of content in at most `MAX_DELTAS_PER_FRAME` deltas,
which keeps it under the 1 MiB limit even if every character needs a 6-byte JSON escape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing

import trio

from switchyard.protocol.frames import (
    MAX_COUNT,
    ChunkDelta,
    ChunkFrame,
    CompleteFrame,
    ErrorFrame,
    InferenceRequestFrame,
    Usage,
)

from .backend import Backend, BackendError, Finish, Token

log = logging.getLogger(__name__)

MAX_CHARS_PER_FRAME = 128 * 1024
MAX_DELTAS_PER_FRAME = 4096
ROLE_DELTA = ChunkDelta(role="assistant")

Item = Token | Finish | BackendError
SendChunk = Callable[[ChunkFrame], Awaitable[None]]


async def stream_request(
    backend: Backend, frame: InferenceRequestFrame, send: SendChunk, window: float
) -> CompleteFrame | ErrorFrame:
    """Run one request; chunks go through `send`; the terminal frame is returned, not sent."""
    send_ch, recv_ch = trio.open_memory_channel[Item](64)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_produce, backend, frame, send_ch)
        terminal = await _pack(frame.request_id, recv_ch, send, window)
        nursery.cancel_scope.cancel()
    return terminal


async def _produce(
    backend: Backend, frame: InferenceRequestFrame, out: trio.MemorySendChannel[Item]
) -> None:
    async with out:
        try:
            async with aclosing(backend.generate(frame.model, frame.request)) as events:
                async for event in events:
                    await out.send(event)
                    if isinstance(event, Finish):
                        return
            await out.send(
                BackendError("backend_error", "backend stream ended early", retryable=True)
            )
        except BackendError as exc:
            await out.send(exc)
        except Exception as exc:
            log.exception("backend crashed on request %s", frame.request_id)
            await out.send(
                BackendError("internal_error", f"backend crashed: {exc!r}", retryable=True)
            )


_ENDED = BackendError("internal_error", "generation ended unexpectedly", retryable=True)


async def _receive(recv: trio.MemoryReceiveChannel[Item]) -> Item:
    try:
        return await recv.receive()
    except trio.EndOfChannel:
        return _ENDED


def _receive_nowait(recv: trio.MemoryReceiveChannel[Item]) -> Item | None:
    try:
        return recv.receive_nowait()
    except trio.WouldBlock:
        return None
    except trio.EndOfChannel:
        return _ENDED


async def _pack(
    request_id: str, recv: trio.MemoryReceiveChannel[Item], send: SendChunk, window: float
) -> CompleteFrame | ErrorFrame:
    next_flush = trio.current_time()
    role_sent = False
    deltas: list[ChunkDelta] = []
    size = 0

    async def flush() -> None:
        nonlocal deltas, size, next_flush
        if deltas:
            await send(ChunkFrame(request_id=request_id, deltas=deltas))
            next_flush = trio.current_time() + window
            deltas, size = [], 0

    item: Item | None = await _receive(recv)
    while True:
        if not isinstance(item, Token):
            await flush()
            return terminal_frame(request_id, item)
        text = item.text
        while text:
            if not role_sent:
                deltas.append(ROLE_DELTA)
                role_sent = True
            room = MAX_CHARS_PER_FRAME - size
            deltas.append(ChunkDelta(content=text[:room]))
            size += min(room, len(text))
            text = text[room:]
            if size >= MAX_CHARS_PER_FRAME or len(deltas) >= MAX_DELTAS_PER_FRAME:
                await flush()
        item = _receive_nowait(recv)
        if item is None and deltas and trio.current_time() < next_flush:
            with trio.move_on_at(next_flush):
                item = await _receive(recv)
        if item is None:
            await flush()
            item = await _receive(recv)


def terminal_frame(request_id: str, outcome: Finish | BackendError) -> CompleteFrame | ErrorFrame:
    """The `complete` or `error` frame that ends a request."""
    if isinstance(outcome, Finish):
        usage = Usage(
            prompt_tokens=min(max(outcome.prompt_tokens, 0), MAX_COUNT),
            completion_tokens=min(max(outcome.completion_tokens, 0), MAX_COUNT),
        )
        return CompleteFrame(
            request_id=request_id,
            usage=usage,
            finish_reason=outcome.finish_reason,
            stop_sequence=outcome.stop_sequence,
        )
    return ErrorFrame(
        request_id=request_id,
        code=(outcome.code or "backend_error")[:64],
        message=outcome.message[:4096],
        retryable=outcome.retryable,
    )
