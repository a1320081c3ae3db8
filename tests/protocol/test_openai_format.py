"""OpenAI responses and SSE encoders, checked against the official SDK's own types and parser."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from switchyard.protocol.chat_choices import Choices
from switchyard.protocol.errors import model_not_found, provider_failed
from switchyard.protocol.frames import Usage
from switchyard.protocol.openai_format import (
    ChatStreamEncoder,
    CompletionStreamEncoder,
    build_chat_completion,
    build_completion,
)

from .sse import openai_client, parse_sse

USAGE = Usage(prompt_tokens=11, completion_tokens=3)
TRICKY = ["Hel", "lo", ' "wörld"', "\n", "\\", "</s>", "\u0000\u001f", "😀", "data: [DONE]\n\n"]
MESSAGES = [{"role": "user", "content": "hi"}]


def chunks_of(stream: bytes) -> list[dict]:
    """The JSON payloads of a chat/completion stream; asserts it ends with one [DONE]."""
    events = parse_sse(stream)
    assert all(event is None for event, _ in events)
    datas = [data for _, data in events]
    assert datas[-1] == "[DONE]" and datas.count("[DONE]") == 1
    return [json.loads(d) for d in datas[:-1]]


def test_chat_completion_object_validates_and_round_trips_through_sdk() -> None:
    choices = Choices()
    choices.add([{"role": "assistant"}, {"content": "Hi"}, {"content": "!"}])
    obj = build_chat_completion(
        id="chatcmpl-1",
        created=1700000000,
        model="m",
        choices=choices,
        finish_reasons=["length"],
        usage=USAGE,
    )
    parsed = ChatCompletion.model_validate(obj)
    assert parsed.choices[0].message.content == "Hi!"
    assert parsed.usage is not None and parsed.usage.total_tokens == 14
    client = openai_client(json.dumps(obj).encode())
    result = client.chat.completions.create(model="m", messages=MESSAGES)
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.prompt_tokens == 11


def test_completion_object_validates_and_maps_finish_reason() -> None:
    choices = Choices(2)
    logprobs = {"tokens": ["on", "ce"], "token_logprobs": [-0.5, -1.0], "text_offset": [0, 2]}
    choices.add([{"content": "on", "text_logprobs": {**logprobs, "tokens": ["on"]}}])
    choices.add([{"content": "ce"}, {"index": 1, "content": "twice"}])
    obj = build_completion(
        id="cmpl-1", created=1, model="m", choices=choices,
        finish_reasons=["tool_calls", "length"], usage=USAGE,
    )  # fmt: skip
    parsed = Completion.model_validate(obj)
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.choices[1].finish_reason == "length" and parsed.choices[1].text == "twice"
    assert parsed.choices[0].logprobs is not None
    assert parsed.choices[0].logprobs.tokens == ["on"]
    result = openai_client(json.dumps(obj).encode()).completions.create(model="m", prompt="p")
    assert result.choices[0].text == "once"


def test_completion_stream_renders_every_choice_and_its_logprobs() -> None:
    enc = CompletionStreamEncoder("m", id="cmpl-x", created=5)
    lp = {"tokens": ["a"], "token_logprobs": [-0.1], "top_logprobs": [{"a": -0.1}]}
    body = enc.delta_events([{"content": "a", "text_logprobs": lp}, {"index": 1, "content": "b"}])
    body += enc.end(["stop", "length"], USAGE, include_usage=False)
    chunks = [c["choices"][0] for c in chunks_of(body)]
    assert [(c["index"], c["text"], c["finish_reason"]) for c in chunks] == [
        (0, "a", None), (1, "b", None), (0, "", "stop"), (1, "", "length")
    ]  # fmt: skip
    assert chunks[0]["logprobs"] == lp and chunks[1]["logprobs"] is None


def test_chat_stream_sequence_validates_chunk_by_chunk() -> None:
    enc = ChatStreamEncoder("llama", id="chatcmpl-x", created=123)
    stream = enc.text_events(TRICKY[:4]) + enc.text_events(TRICKY[4:])
    stream += enc.end(["stop"], USAGE, include_usage=True)
    chunks = [ChatCompletionChunk.model_validate(c) for c in chunks_of(stream)]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(TRICKY)
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * len(TRICKY) + [
        None,
        "stop",
    ]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 14
    assert {(c.id, c.created, c.model, c.object) for c in chunks} == {
        ("chatcmpl-x", 123, "llama", "chat.completion.chunk")
    }


def test_chat_stream_role_once_and_nothing_after_done() -> None:
    enc = ChatStreamEncoder("m")
    assert enc.text_events(["", ""]) == b""
    first = chunks_of(enc.text_events(["a"]) + b"data: [DONE]\n\n")
    assert [c["choices"][0]["delta"] for c in first] == [
        {"role": "assistant", "content": ""},
        {"content": "a"},
    ]
    assert enc.role_event() == b""
    tail = enc.end(["stop"], USAGE, include_usage=False)
    assert [c["choices"][0]["finish_reason"] for c in chunks_of(tail)] == ["stop"]
    assert enc.closed
    for late in (
        enc.text_events(["x"]),
        enc.done(),
        enc.usage_event(USAGE),
        enc.finish_event("stop"),
    ):
        assert late == b""
    assert enc.error_event(provider_failed()) == b""


def test_empty_output_still_announces_the_role() -> None:
    enc = ChatStreamEncoder("m")
    chunks = chunks_of(enc.end(["length"], USAGE, include_usage=False))
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {}]


def test_delta_events_skip_roles_and_show_every_other_field() -> None:
    enc = ChatStreamEncoder("m")
    deltas: list[dict[str, Any]] = [
        {"role": "assistant"},
        {"content": "a"},
        {"content": ""},
        {"reasoning_content": "r", "logprobs": {"content": []}},
        {"index": 1, "content": "b"},
        {"role": "x"},
    ]
    chunks = chunks_of(enc.delta_events(deltas) + enc.done())
    got = [(c["choices"][0]["index"], c["choices"][0]["delta"]) for c in chunks]
    assert got == [
        (0, {"role": "assistant", "content": ""}),
        (0, {"content": "a"}),
        (0, {"reasoning_content": "r"}),
        (1, {"role": "assistant", "content": ""}),
        (1, {"content": "b"}),
    ]
    assert chunks[2]["choices"][0]["logprobs"] == {"content": []}
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)


TOOL_CALL_DELTAS: list[dict[str, Any]] = [
    {"role": "assistant"},
    {"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "get"}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": '{"city"'}}]},
    {"tool_calls": [{"index": 1, "id": "c2", "type": "function", "function": {"name": "put"}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": ': "Oslo"}'}}]},
    {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
]
TOOL_CALLS = [
    {"id": "c1", "type": "function", "function": {"name": "get", "arguments": '{"city": "Oslo"}'}},
    {"id": "c2", "type": "function", "function": {"name": "put", "arguments": "{}"}},
]


def test_tool_calls_stream_into_the_sdks_accumulator_and_fold_into_a_message() -> None:
    enc = ChatStreamEncoder("m")
    body = enc.delta_events(TOOL_CALL_DELTAS) + enc.end(["tool_calls"], USAGE, include_usage=True)
    stream = openai_client(body, sse=True).chat.completions.create(
        model="m", messages=MESSAGES, stream=True
    )
    state = ChatCompletionStreamState()
    for chunk in stream:
        state.handle_chunk(chunk)
    final = state.current_completion_snapshot.choices[0]
    assert final.finish_reason == "tool_calls"
    calls = [
        c.model_dump(exclude_none=True, exclude={"index"}) for c in final.message.tool_calls or []
    ]
    assert calls == TOOL_CALLS

    choices = Choices()
    choices.add(TOOL_CALL_DELTAS)
    obj = build_chat_completion(
        id="x", created=1, model="m", choices=choices, finish_reasons=["tool_calls"], usage=USAGE
    )
    message = ChatCompletion.model_validate(obj).choices[0].message
    assert message.content is None
    assert [c.model_dump() for c in message.tool_calls or []] == TOOL_CALLS


def test_n_choices_get_their_own_role_and_finish() -> None:
    enc = ChatStreamEncoder("m")
    deltas = [{"content": "A"}, {"index": 1, "content": "a"}, {"index": 1, "content": "b"}]
    body = enc.delta_events(deltas) + enc.end(["stop", "length"], USAGE, include_usage=False)
    stream = openai_client(body, sse=True).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, n=2
    )
    state = ChatCompletionStreamState()
    for chunk in stream:
        state.handle_chunk(chunk)
    got = [
        (c.index, c.message.content, c.finish_reason)
        for c in state.current_completion_snapshot.choices
    ]
    assert got == [(0, "A", "stop"), (1, "ab", "length")]


@given(st.lists(st.text(), max_size=8))
def test_any_text_survives_the_encoder(texts: list[str]) -> None:
    enc = ChatStreamEncoder('model/"quoted"')
    chunks = chunks_of(enc.text_events(texts) + enc.done())
    got = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert got == "".join(texts)
    assert all(c["model"] == 'model/"quoted"' for c in chunks)


def test_official_sdk_consumes_chat_stream() -> None:
    enc = ChatStreamEncoder("m")
    body = enc.text_events(TRICKY) + enc.end(["length"], USAGE, include_usage=True)
    client = openai_client(body, sse=True)
    stream = client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(TRICKY)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_official_sdk_raises_on_in_stream_error() -> None:
    enc = ChatStreamEncoder("m")
    body = (
        enc.text_events(["partial"])
        + enc.error_event(provider_failed("provider went away"))
        + enc.done()
    )
    stream = openai_client(body, sse=True).chat.completions.create(
        model="m", messages=MESSAGES, stream=True
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="provider went away"):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "partial"


def test_completion_stream_through_types_and_sdk() -> None:
    enc = CompletionStreamEncoder("m", id="cmpl-x", created=5)
    body = enc.text_events(["Once", " upon"]) + enc.end(["length"], USAGE, include_usage=True)
    raw = chunks_of(body)
    assert [c["choices"][0]["text"] for c in raw[:-1]] == ["Once", " upon", ""]
    assert raw[-2]["choices"][0]["finish_reason"] == "length"
    Completion.model_validate(raw[-2])
    assert raw[-1]["choices"] == [] and raw[-1]["usage"]["total_tokens"] == 14
    for chunk in raw:
        assert (chunk["id"], chunk["object"], chunk["created"]) == ("cmpl-x", "text_completion", 5)
    stream = openai_client(body, sse=True).completions.create(model="m", prompt="p", stream=True)
    parts = list(stream)
    assert "".join(p.choices[0].text for p in parts if p.choices) == "Once upon"
    assert parts[-1].usage is not None and parts[-1].usage.prompt_tokens == 11


def test_sdk_maps_error_bodies_to_its_exceptions() -> None:
    err = model_not_found("nope")
    client = openai_client(json.dumps(err.openai_body()).encode(), status=err.status)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=MESSAGES)
    assert (info.value.code, info.value.param) == ("model_not_found", "model")
    assert "nope" in info.value.message
