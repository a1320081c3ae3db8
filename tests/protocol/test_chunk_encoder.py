"""The agent side of the chunk codec: what `ChunkPacker` writes, pydantic and the fast
decoder read back exactly, in order, within the frame limits, measured on the bytes sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.protocol.chunk_codec import (
    MAX_ADD_BYTES,
    ChunkBatchIn,
    ChunkIn,
    ChunkPacker,
    _fast_chunks,
    decode_provider_frame,
    encode_deltas,
    stream_deltas,
)
from switchyard.protocol.frames import ChunkBatchFrame, ChunkFrame, parse_provider_frame
from switchyard.protocol.limits import (
    CHUNK_FRAME_BUDGET_BYTES,
    MAX_BATCH_CHUNKS,
    MAX_DELTA_CHARS,
    MAX_DELTAS,
    MAX_ID_CHARS,
    MAX_PROVIDER_FRAME_BYTES,
)


def pydantic_items(text: str) -> list[ChunkIn]:
    """What pydantic alone makes of a frame the packer wrote."""
    frame = parse_provider_frame(text)
    items = frame.chunks if isinstance(frame, ChunkBatchFrame) else [frame]
    assert isinstance(frame, ChunkBatchFrame | ChunkFrame)
    return [
        ChunkIn(c.request_id, [d.model_dump(exclude_none=True) for d in c.deltas]) for c in items
    ]


def per_token(delta: dict[str, Any]) -> bool:
    """The shapes the fast decoder knows: `{"content": str}` and `{"role": str}`."""
    return len(delta) == 1 and ("content" in delta or "role" in delta)


def decoded_items(text: str) -> list[ChunkIn]:
    """What the coordinator's decoder makes of it; it must agree with pydantic."""
    decoded = decode_provider_frame(text)
    items = decoded.chunks if isinstance(decoded, ChunkBatchIn) else [decoded]
    assert all(isinstance(i, ChunkIn) for i in items)
    assert items == pydantic_items(text)
    fast = _fast_chunks(text)
    if "\\ud" not in text and all(per_token(d) for i in items for d in i.deltas):
        assert fast == decoded  # the per-token shapes take the fast path
    elif fast is not None:
        assert fast == decoded
    return items  # type: ignore[return-value]


def by_request(frames: list[str]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for text in frames:
        for item in decoded_items(text):
            out.setdefault(item.request_id, []).extend(item.deltas)
    return out


# Any text, lone surrogates aside (the coordinator refuses those; backends do not make them).
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
request_ids = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=MAX_ID_CHARS)
choice_index = st.integers(0, 127)
tool_call = st.fixed_dictionaries(
    {"index": st.integers(0, 127)},
    optional={
        "id": st.text(min_size=1, max_size=8),
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {}, optional={"name": st.text(max_size=8), "arguments": texts}
        ),
    },
)
top_logprob = st.fixed_dictionaries(
    {"token": texts, "logprob": st.floats(-100, 0)},
    optional={"bytes": st.lists(st.integers(0, 255), max_size=4)},
)
token_logprob = st.fixed_dictionaries(
    {"token": texts, "logprob": st.floats(-100, 0)},
    optional={
        "bytes": st.lists(st.integers(0, 255), max_size=4),
        "top_logprobs": st.lists(top_logprob, max_size=3),
    },
)
# Every delta shape of issue #14 beside the per-token ones (the codec's fast path).
structured = st.one_of(
    st.builds(lambda i, t: {"index": i, "content": t}, choice_index, texts),
    st.builds(lambda t: {"reasoning_content": t}, texts),
    st.builds(lambda t: {"refusal": t}, texts),
    st.builds(lambda c: {"tool_calls": c}, st.lists(tool_call, min_size=1, max_size=3)),
    st.builds(
        lambda t, lp: {"content": t, "logprobs": {"content": lp}},
        texts,
        st.lists(token_logprob, max_size=2),
    ),
    st.builds(
        lambda i, r: {"index": i, "finish_reason": r},
        choice_index,
        st.sampled_from(["stop", "length", "tool_calls", "content_filter"]),
    ),
)
delta_lists = st.lists(
    st.one_of(
        st.builds(lambda t: {"content": t}, texts),
        st.builds(lambda t: {"role": t}, st.text(min_size=1, max_size=32)),
        structured,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(range(5)), delta_lists), min_size=1, max_size=30),
    st.lists(request_ids, min_size=5, max_size=5, unique=True),
    st.sampled_from([64, 512, CHUNK_FRAME_BUDGET_BYTES]),
)
def test_encoded_frames_round_trip_through_pydantic_and_the_fast_decoder(
    adds: list[tuple[int, list[dict[str, str]]]], ids: list[str], budget: int
) -> None:
    packer = ChunkPacker(budget)
    sent: dict[str, list[dict[str, str]]] = {}
    for which, deltas in adds:
        packer.add(ids[which], deltas)
        sent.setdefault(ids[which], []).extend(deltas)
    frames = packer.frames()
    assert not packer and packer.frames() == []  # everything went out, once
    for text in frames:
        assert text.isascii()  # so len() is the byte count the frame limit is about
        assert len(text) <= MAX_PROVIDER_FRAME_BYTES
    assert by_request(frames) == sent  # every delta, each request's in order


def test_encode_deltas_is_the_json_of_the_deltas() -> None:
    deltas: list[dict[str, Any]] = [
        {"role": "assistant"},
        {"content": 'a"\\\n\x00é€😀'},
        {"content": ""},
        {"index": 1, "tool_calls": [{"index": 0, "function": {"arguments": '{"é": 1}'}}]},
        {"content": "x", "logprobs": {"content": [{"token": "x", "logprob": -0.5}]}},
    ]
    assert f"[{encode_deltas(deltas)}]" == json.dumps(deltas, separators=(",", ":"))


def test_stream_deltas_open_with_the_role() -> None:
    assert stream_deltas("hi", first=True) == [{"role": "assistant"}, {"content": "hi"}]
    assert stream_deltas("hi", first=False) == [{"content": "hi"}]


def test_a_requests_deltas_share_one_item_and_requests_share_one_frame() -> None:
    packer = ChunkPacker()
    for i in range(100):
        packer.add("a", stream_deltas(f"t{i}", i == 0))
        packer.add("b", stream_deltas(f"u{i}", i == 0))
    [text] = packer.frames()
    items = decoded_items(text)
    assert [i.request_id for i in items] == ["a", "b"]
    assert len(items[0].deltas) == 101


def test_frames_fill_up_to_the_budget_measured_in_bytes_sent() -> None:
    packer = ChunkPacker()
    delta = stream_deltas("é" * 1000, first=False)  # 6,000 bytes escaped, 1,000 characters
    size = len(encode_deltas(delta))
    for _ in range(200):
        packer.add("a", delta)
    frames = packer.frames()
    per_frame = (CHUNK_FRAME_BUDGET_BYTES + 1) // (size + 1)  # n items and n - 1 commas
    assert [len(decoded_items(f)[0].deltas) for f in frames] == [per_frame, 200 - per_frame]
    assert all(len(f) <= CHUNK_FRAME_BUDGET_BYTES + 64 for f in frames)


def test_batches_hold_at_most_max_batch_chunks_requests() -> None:
    packer = ChunkPacker()
    for i in range(MAX_BATCH_CHUNKS + 1):
        packer.add(f"r{i}", [{"content": "x"}])
    frames = packer.frames()
    assert [len(decoded_items(f)) for f in frames] == [MAX_BATCH_CHUNKS, 1]


def test_an_item_holds_at_most_max_deltas() -> None:
    packer = ChunkPacker(budget=MAX_PROVIDER_FRAME_BYTES)
    for _ in range(MAX_DELTAS + 1):
        packer.add("r", [{"content": ""}])
    counts = [len(item.deltas) for f in packer.frames() for item in decoded_items(f)]
    assert counts == [MAX_DELTAS, 1]


def test_the_largest_delta_fits_alone_and_a_larger_one_is_refused() -> None:
    worst = "\x00" * MAX_DELTA_CHARS  # every character a 6-byte escape
    packer = ChunkPacker()
    packer.add("r" * MAX_ID_CHARS, stream_deltas(worst, first=True))
    packer.add("r" * MAX_ID_CHARS, stream_deltas(worst, first=False))
    frames = packer.frames()
    assert len(frames) == 2 and all(len(f) <= MAX_PROVIDER_FRAME_BYTES for f in frames)
    assert by_request(frames)["r" * MAX_ID_CHARS][1:] == [{"content": worst}] * 2
    too_big: list[Any] = [{"content": "\x00" * (MAX_ADD_BYTES // 6)}]
    with pytest.raises(ValueError, match="do not fit one frame"):
        packer.add("r", too_big)
