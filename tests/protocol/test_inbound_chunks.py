"""`chunk` and `chunk_batch` as the coordinator reads them: the hand-written fast path must
agree with the pydantic frames on every input, accepting and refusing exactly the same."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.protocol.chunk_codec import ChunkBatchIn, ChunkIn, decode_provider_frame
from switchyard.protocol.codes import CloseCode, FrameError
from switchyard.protocol.frames import (
    MAX_BATCH_CHUNKS,
    ChunkBatchFrame,
    ChunkItem,
    Delta,
    dump_frame,
    parse_provider_frame,
)
from switchyard.protocol.limits import MAX_PROVIDER_FRAME_BYTES


def slow(text: str) -> Any:
    """What pydantic alone makes of `text`, in the actor's message shapes."""

    def item(c: Any) -> ChunkIn:
        return ChunkIn(c.request_id, [d.model_dump(exclude_none=True) for d in c.deltas])

    frame = parse_provider_frame(text)
    if isinstance(frame, ChunkBatchFrame):
        return ChunkBatchIn([item(c) for c in frame.chunks])
    return item(frame)


def outcome(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except FrameError as exc:
        return exc.code


def test_batch_round_trips() -> None:
    frame = ChunkBatchFrame(
        chunks=[
            ChunkItem(request_id="a", deltas=[Delta(role="assistant"), Delta(content="x")]),
            ChunkItem(request_id="b", deltas=[Delta(content="y")]),
        ]
    )
    text = dump_frame(frame)
    assert parse_provider_frame(text) == frame
    assert decode_provider_frame(text) == ChunkBatchIn(
        [ChunkIn("a", [{"role": "assistant"}, {"content": "x"}]), ChunkIn("b", [{"content": "y"}])]
    )


OK_DELTA = {"content": "x"}


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "chunk_batch", "chunks": []},
        {"type": "chunk_batch", "chunks": [{"request_id": "a", "deltas": [OK_DELTA]}] * 4097},
        {"type": "chunk_batch", "chunks": [{"request_id": "a", "deltas": []}]},
        {"type": "chunk_batch", "chunks": [{"request_id": "", "deltas": [OK_DELTA]}]},
        {"type": "chunk_batch", "chunks": [{"request_id": "a", "deltas": [OK_DELTA], "x": 1}]},
        {"type": "chunk_batch", "chunks": [{"request_id": "a", "deltas": [{"role": ""}]}]},
        {"type": "chunk_batch", "chunks": [{"request_id": "a", "deltas": [{"content": 1}]}]},
        {"type": "chunk_batch", "chunks": {"request_id": "a", "deltas": [OK_DELTA]}},
        {"type": "chunk_batch", "chunks": [{"type": "chunk", "request_id": "a", "deltas": []}]},
        {"type": "chunk_batch"},
    ],
)
def test_bad_batches_are_validation_errors(frame: dict[str, Any]) -> None:
    text = json.dumps(frame, separators=(",", ":"))
    assert outcome(decode_provider_frame, text) == CloseCode.VALIDATION_FAILED


def test_the_largest_batch_is_accepted() -> None:
    chunks = [{"request_id": f"r{i}", "deltas": [OK_DELTA]} for i in range(MAX_BATCH_CHUNKS)]
    text = json.dumps({"type": "chunk_batch", "chunks": chunks}, separators=(",", ":"))
    assert len(decode_provider_frame(text).chunks) == MAX_BATCH_CHUNKS


def test_lone_surrogates_are_refused_like_pydantic_refuses_them() -> None:
    text = '{"type":"chunk","request_id":"r","deltas":[{"content":"a\\ud800b"}]}'
    assert outcome(decode_provider_frame, text) == CloseCode.INVALID_JSON
    pair = '{"type":"chunk","request_id":"r","deltas":[{"content":"\\ud83d\\ude00"}]}'
    assert decode_provider_frame(pair) == ChunkIn("r", [{"content": "\U0001f600"}])


strings = st.text(max_size=6) | st.sampled_from(["", "assistant", "x" * 129, "\ud800"])
# The shapes of the new deltas (issue #14), valid and not, beside the per-token ones.
tool_calls = st.lists(
    st.fixed_dictionaries(
        {"index": st.integers(-1, 130)},
        optional={
            "id": strings,
            "type": st.sampled_from(["function", "other"]),
            "function": st.fixed_dictionaries(
                {}, optional={"name": strings, "arguments": strings | st.none()}
            ),
        },
    ),
    max_size=2,
)
token_logprob = st.fixed_dictionaries(
    {"token": strings, "logprob": st.floats(-20, 0) | st.integers(-3, 0) | st.text(max_size=1)},
    optional={"bytes": st.lists(st.integers(-1, 256), max_size=3)},
)
logprobs = st.fixed_dictionaries(
    {},
    optional={
        "content": st.lists(
            st.fixed_dictionaries(
                {"token": strings, "logprob": st.floats(-20, 0)},
                optional={"top_logprobs": st.lists(token_logprob, max_size=2)},
            ),
            max_size=2,
        ),
        "refusal": st.none(),
    },
)
values = st.one_of(
    strings,
    st.integers(-1, 200),
    st.none(),
    tool_calls,
    logprobs,
    st.sampled_from(["stop", "length", "tool_calls", "content_filter", "eos"]),
)
keys = st.sampled_from(
    ["content", "role", "x", "index", "reasoning_content", "refusal", "tool_calls", "logprobs",
     "finish_reason"]
)  # fmt: skip
deltas = st.lists(st.dictionaries(keys, values, max_size=3), max_size=3)
items = st.fixed_dictionaries(
    {"request_id": strings | st.integers(), "deltas": deltas},
    optional={"type": st.just("chunk"), "x": st.integers()},
)
frames = st.one_of(
    st.builds(lambda i: {"type": "chunk", **i}, items),
    st.fixed_dictionaries({"type": st.just("chunk_batch"), "chunks": st.lists(items, max_size=3)}),
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(frames, st.booleans())
def test_fast_path_agrees_with_pydantic(frame: dict[str, Any], ascii_only: bool) -> None:
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=ascii_only)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(frame, separators=(",", ":"))  # a socket only carries valid UTF-8
    assert outcome(decode_provider_frame, text) == outcome(slow, text)


def test_deeply_nested_chunk_frames_are_invalid_json_not_a_crash() -> None:
    deep = '{"type":"chunk","request_id":"r","deltas":' + "[" * 100_000 + "]" * 100_000 + "}"
    assert outcome(slow, deep) == CloseCode.INVALID_JSON
    assert outcome(decode_provider_frame, deep) == CloseCode.INVALID_JSON


def test_frames_are_measured_in_utf8_bytes_not_characters() -> None:
    # 350,000 characters, but over 1 MiB once encoded: "€" is three bytes
    content = "€" * (MAX_PROVIDER_FRAME_BYTES // 3)
    frame = {"type": "chunk", "request_id": "r", "deltas": [{"content": content}]}
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
    assert len(text) < MAX_PROVIDER_FRAME_BYTES < len(text.encode())
    assert outcome(slow, text) == CloseCode.FRAME_TOO_LARGE
    assert outcome(decode_provider_frame, text) == CloseCode.FRAME_TOO_LARGE
    # the same content fits once it is a third as long, escaped or not
    small = {**frame, "deltas": [{"content": content[: len(content) // 3]}]}
    for ascii_only in (True, False):
        text = json.dumps(small, separators=(",", ":"), ensure_ascii=ascii_only)
        assert decode_provider_frame(text) == ChunkIn("r", small["deltas"])


def test_trailing_whitespace_is_left_to_pydantic() -> None:
    text = '{"type":"chunk","request_id":"r","deltas":[{"content":"x"}]} \n'
    assert outcome(decode_provider_frame, text) == outcome(slow, text) == ChunkIn("r", [OK_DELTA])
    text = '{"type":"chunk","request_id":"r","deltas":[{"content":"x"}]} x'
    assert outcome(decode_provider_frame, text) == CloseCode.INVALID_JSON
