"""The agent's outbox: deltas of many requests packed into few frames, in order, in time.

Frames are recorded as the socket would get them and parsed with the real protocol parser,
so every frame the outbox writes is a valid `chunk`, `chunk_batch` or whole frame.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from switchyard.agent import Deltas as BackendDeltas
from switchyard.agent import Finish, ModelInfo
from switchyard.agent.backend import Event
from switchyard.agent.outbox import Deltas, Outbox
from switchyard.agent.streaming import fit_deltas, stream_request
from switchyard.protocol.chat_choices import Choices
from switchyard.protocol.chunk_codec import MAX_ADD_BYTES, ChunkPacker, encode_deltas, stream_deltas
from switchyard.protocol.frames import (
    ChunkBatchFrame,
    ChunkFrame,
    ChunkItem,
    CompleteFrame,
    InferenceRequestFrame,
    Usage,
    dump_frame,
    parse_provider_frame,
)
from switchyard.protocol.limits import MAX_DELTA_CHARS, MAX_PROVIDER_FRAME_BYTES


@dataclass(eq=False)
class Req:
    abandoned: bool = False


class Wire:
    """Records what the outbox writes: (time, raw text, parsed frame)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, str, object]] = []

    async def send_text(self, text: str) -> None:
        self.frames.append((trio.current_time(), text, parse_provider_frame(text)))
        await trio.lowlevel.checkpoint()

    def deltas_by_request(self) -> dict[str, list[tuple[float, dict[str, str]]]]:
        out: dict[str, list[tuple[float, dict[str, str]]]] = {}
        for at, _, frame in self.frames:
            if isinstance(frame, ChunkBatchFrame):
                items: list[ChunkItem] = list(frame.chunks)
            elif isinstance(frame, ChunkFrame):
                items = [frame]
            else:
                continue
            for item in items:
                for d in item.deltas:
                    out.setdefault(item.request_id, []).append(
                        (at, d.model_dump(exclude_none=True))
                    )
        return out

    def text(self, request_id: str) -> str:
        return "".join(d.get("content", "") for _, d in self.deltas_by_request()[request_id])


def body() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


class ScriptedBackend:
    """Yields the given tokens, sleeping `gap` seconds before each."""

    def __init__(self, tokens: list[str], gap: float = 0.0) -> None:
        self.tokens, self.gap = tokens, gap

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("m")]

    async def aclose(self) -> None:
        return None

    async def generate(
        self, model: str, request: dict[str, Any], kind: str = "chat"
    ) -> AsyncGenerator[Event, None]:
        for i, token in enumerate(self.tokens):
            if self.gap:
                await trio.sleep(self.gap)
            yield BackendDeltas(stream_deltas(token, i == 0))
        yield Finish(1, len(self.tokens), "stop")


async def serve(outbox: Outbox, backend: ScriptedBackend, request_id: str) -> None:
    """What a session does for one request: deltas via the outbox, then the terminal frame."""
    req = Req()
    frame = InferenceRequestFrame(request_id=request_id, model="m", request=body(), deadline=1e12)

    async def send(deltas: list[dict[str, Any]], first: bool) -> None:
        await outbox.put_deltas(Deltas(req, request_id, deltas, first))

    terminal = await stream_request(backend, frame, send)
    await outbox.put(req, dump_frame(terminal))


async def run_requests(window: float, backends: dict[str, ScriptedBackend]) -> Wire:
    wire = Wire()
    outbox = Outbox(wire.send_text, window)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.run)
        async with trio.open_nursery() as requests:
            for request_id, backend in backends.items():
                requests.start_soon(serve, outbox, backend, request_id)
        await outbox.flush()
        nursery.cancel_scope.cancel()
    return wire


async def test_concurrent_requests_share_frames_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tokens = [f"t{i} " for i in range(30)]
    backends = {f"r{i}": ScriptedBackend(tokens, gap=0.033) for i in range(50)}
    wire = await run_requests(0.005, backends)
    for request_id in backends:
        assert wire.text(request_id) == "".join(tokens)
        deltas = wire.deltas_by_request()[request_id]
        assert deltas[0][1] == {"role": "assistant"}
    # 50 x 30 deltas and 50 terminals, but deltas of different requests share frames
    assert len(wire.frames) < 50 * 30 / 2
    assert any(isinstance(f, ChunkBatchFrame) for _, _, f in wire.frames)
    # each request's terminal frame comes after all of its deltas
    for request_id in backends:
        last_delta = max(
            i
            for i, (_, _, f) in enumerate(wire.frames)
            if (isinstance(f, ChunkFrame) and f.request_id == request_id)
            or (
                isinstance(f, ChunkBatchFrame) and any(c.request_id == request_id for c in f.chunks)
            )
        )
        terminal = next(
            i
            for i, (_, _, f) in enumerate(wire.frames)
            if isinstance(f, CompleteFrame) and f.request_id == request_id
        )
        assert last_delta < terminal


async def test_no_delta_waits_longer_than_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    window = 0.010
    wire = Wire()
    outbox = Outbox(wire.send_text, window)
    queued: list[tuple[float, str]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.run)
        req = Req()
        for i in range(200):
            text = f"x{i}"
            queued.append((trio.current_time(), text))
            await outbox.put_deltas(Deltas(req, "r", [{"content": text}], first=i == 0))
            await trio.sleep(0.0007 * (1 + i % 5))
        await outbox.flush()
        nursery.cancel_scope.cancel()
    written = {d["content"]: at for at, d in wire.deltas_by_request()["r"]}
    waits = [written[text] - at for at, text in queued]
    assert max(waits) <= window + 1e-9
    assert waits[0] == 0  # the first delta of a request goes out at once
    assert len(wire.frames) < len(queued) / 3  # ... and the rest were packed


async def test_first_deltas_and_whole_frames_go_out_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    wire = Wire()
    outbox = Outbox(wire.send_text, window=60.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.run)
        a = Req()
        await outbox.put_deltas(Deltas(a, "a", [{"content": "1"}], first=True))
        await trio.sleep(1)
        assert len(wire.frames) == 1 and wire.frames[0][0] == 0
        await outbox.put_deltas(Deltas(a, "a", [{"content": "2"}]))
        await trio.sleep(1)
        assert len(wire.frames) == 1  # a later delta waits for the window ...
        complete = CompleteFrame(
            request_id="a", usage=Usage(prompt_tokens=1, completion_tokens=2), finish_reason="stop"
        )
        await outbox.put(a, dump_frame(complete))
        await trio.lowlevel.checkpoint()
        await outbox.flush()
        # ... unless a whole frame follows it: then it goes first, and both at once
        assert [f.type for _, _, f in wire.frames] == ["chunk", "chunk", "complete"]  # type: ignore[attr-defined]
        assert trio.current_time() < 60
        nursery.cancel_scope.cancel()


async def test_abandoned_requests_send_nothing_more() -> None:
    wire = Wire()
    outbox = Outbox(wire.send_text, window=0.001)
    gone, kept = Req(), Req()
    await outbox.put_deltas(Deltas(gone, "gone", [{"content": "a"}], first=True))
    await outbox.put_deltas(Deltas(kept, "kept", [{"content": "b"}], first=True))
    await outbox.put(gone, '{"type":"heartbeat","in_use":{},"load":0.0}')
    gone.abandoned = True
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.run)
        await outbox.flush()
        nursery.cancel_scope.cancel()
    assert list(wire.deltas_by_request()) == ["kept"]
    assert [f.type for _, _, f in wire.frames] == ["chunk"]  # type: ignore[attr-defined]


async def test_oversized_tokens_split_into_frames_under_the_limit() -> None:
    text = "\x00" * (MAX_DELTA_CHARS * 2 + 5)  # each char is a 6-byte JSON escape
    backends = {f"r{i}": ScriptedBackend([text, "end"]) for i in range(3)}
    wire = await run_requests(0.001, backends)
    assert all(len(raw.encode()) <= MAX_PROVIDER_FRAME_BYTES for _, raw, _ in wire.frames)
    for request_id in backends:
        assert wire.text(request_id) == text + "end"


async def test_bursts_of_tiny_tokens_stay_within_frame_limits() -> None:
    tokens = list("ab" * 10_000)
    wire = await run_requests(math.inf, {"r": ScriptedBackend(tokens)})
    assert wire.text("r") == "".join(tokens)
    assert len(wire.frames) > 2  # the first delta, then packed frames of bounded size


async def test_frames_are_sized_on_the_bytes_sent() -> None:
    # ASCII tokens: 1 byte a character on the wire, however many a worst-case guess allows
    tokens = [f"{i:04d}" + "x" * 96 for i in range(3000)]
    wire = await run_requests(math.inf, {"r": ScriptedBackend(tokens)})
    assert wire.text("r") == "".join(tokens)
    for _, raw, frame in wire.frames:
        assert len(raw.encode()) <= MAX_PROVIDER_FRAME_BYTES
        if isinstance(frame, ChunkBatchFrame):
            ids = [c.request_id for c in frame.chunks]
            # a request's deltas are split only where the bytes sent would overflow a frame
            assert len(ids) == len(set(ids))


def test_long_deltas_of_every_kind_are_split_and_add_up() -> None:
    long = "\x00" * (MAX_DELTA_CHARS * 2 + 5)
    call = {"index": 2, "id": "c", "type": "function", "function": {"name": "f", "arguments": long}}
    deltas: list[dict[str, Any]] = [
        {"index": 1, "reasoning_content": long, "refusal": "r"},
        {"index": 1, "tool_calls": [call]},
        {"content": "x"},
    ]
    groups = fit_deltas(deltas)
    packer = ChunkPacker()
    for group in groups:
        packer.add("r", group)  # each group fits one frame
    sent = [d for group in groups for d in group]
    assert all(len(encode_deltas([d])) <= MAX_ADD_BYTES for d in sent)
    choices = Choices(2)
    choices.add(sent)
    assert choices.choices[0].text == "x"
    message = choices.choices[1].message()
    assert message["reasoning_content"] == long and message["refusal"] == "r"
    assert message["tool_calls"] == [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": long}}
    ]
    assert fit_deltas([{"content": "a"}, {"content": "b"}]) == [
        [{"content": "a"}, {"content": "b"}]
    ]
