"""Anthropic Messages: request parsing and normalization, responses, the SSE event sequence."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from switchyard.protocol.anthropic_api import MessagesRequest, messages_wire_request
from switchyard.protocol.anthropic_format import (
    MessagesStreamEncoder,
    anthropic_stop_reason,
    build_message,
)
from switchyard.protocol.chat import delta_texts
from switchyard.protocol.errors import ApiError, no_capacity, parse_json_body, provider_failed
from switchyard.protocol.frames import Usage

from .sse import anthropic_client, parse_sse

USAGE = Usage(prompt_tokens=21, completion_tokens=4)
EVENT = TypeAdapter(RawMessageStreamEvent)
USER = {"role": "user", "content": "Hello"}
TEXTS = ["Hel", "lo ", '"wörld"', "\n😀", "\\u0041"]


def request(**fields: Any) -> MessagesRequest:
    body = {"model": "claude-ish", "max_tokens": 64, "messages": [USER], **fields}
    return parse_json_body(json.dumps(body).encode(), MessagesRequest)


def events_of(stream: bytes) -> list[tuple[str, Any]]:
    """(event name, validated SDK event or raw dict for ping/error); names match types."""
    out: list[tuple[str, Any]] = []
    for name, data in parse_sse(stream):
        payload = json.loads(data)
        assert name == payload["type"]
        out.append((name, payload if name in ("ping", "error") else EVENT.validate_python(payload)))
    return out


def test_system_and_blocks_normalize() -> None:
    req = request(
        system=[{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Be kind."}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Q", "cache_control": {}}]},
            {"role": "assistant", "content": "A"},
            {"role": "user", "content": "Q2"},
        ],
        stop_sequences=["\n\nHuman:"],
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        metadata={"user_id": "u1"},
        tools=[],
    )
    body = messages_wire_request(req)
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("system", "Be terse.\nBe kind."),
        ("user", "Q"),
        ("assistant", "A"),
        ("user", "Q2"),
    ]
    got = [body[k] for k in ("max_tokens", "temperature", "top_p", "top_k", "stop")]
    assert got == [64, 0.2, 0.9, 40, ["\n\nHuman:"]]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert req.metadata is not None and req.metadata.user_id == "u1"


def test_no_system_means_no_system_message() -> None:
    body = messages_wire_request(request(system=""))
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert "stop" not in messages_wire_request(request())


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
        ({"messages": [{"role": "system", "content": "hi"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
            "messages[0].content",
        ),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"system": [{"type": "tool_result"}]}, "system"),
        ({"system": 3}, "system"),
        ({"temperature": 1.5}, "temperature"),
        ({"stop_sequences": "END"}, None),
        ({"stop_sequences": [None]}, "stop_sequences"),
        ({"top_k": -1}, "top_k"),
        ({"stream": 1}, "stream"),
        ({"metadata": {"user_id": 9}}, "metadata.user_id"),
    ],
)
def test_rejections(fields: dict[str, Any], param: str | None) -> None:
    body = {"model": "m", "max_tokens": 8, "messages": [USER], **fields}
    if fields.get("max_tokens", 0) is None:
        del body["max_tokens"]
    if param is None:  # a bare string is accepted as one stop sequence
        assert parse_json_body(json.dumps(body).encode(), MessagesRequest).stop_sequences == ["END"]
        return
    with pytest.raises(ApiError) as info:
        parse_json_body(json.dumps(body).encode(), MessagesRequest)
    assert (info.value.status, info.value.param) == (400, param)
    assert info.value.anthropic_body()["error"]["type"] == "invalid_request_error"


def test_first_message_must_be_user_message_text() -> None:
    with pytest.raises(ApiError, match="first message must use the 'user' role"):
        request(messages=[{"role": "assistant", "content": "x"}, USER])


@pytest.mark.parametrize(
    ("finish", "stop_sequence", "expected"),
    [
        ("stop", None, "end_turn"),
        ("length", None, "max_tokens"),
        ("content_filter", None, "refusal"),
        ("tool_calls", None, "end_turn"),
        ("stop", "END", "stop_sequence"),
        ("something-new", None, "end_turn"),
    ],
)
def test_stop_reason_mapping(finish: str, stop_sequence: str | None, expected: str) -> None:
    assert anthropic_stop_reason(finish, stop_sequence) == expected


def test_message_object_validates_and_round_trips_through_sdk() -> None:
    obj = build_message(
        id="msg_1", model="m", text="Hi", finish_reason="stop", usage=USAGE, stop_sequence="END"
    )
    msg = Message.model_validate(obj)
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "END")
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (21, 4)
    client = anthropic_client(json.dumps(obj).encode())
    got = client.messages.create(model="m", max_tokens=8, messages=[USER])
    assert got.content[0].type == "text" and got.content[0].text == "Hi"
    empty = build_message(id="msg_2", model="m", text="", finish_reason="length", usage=USAGE)
    assert Message.model_validate(empty).content == []


def test_stream_event_sequence() -> None:
    enc = MessagesStreamEncoder("m", id="msg_x", input_tokens=0)
    stream = enc.text_events(TEXTS[:2]) + enc.ping() + enc.text_events(TEXTS[2:])
    stream += enc.finish_events("length", USAGE)
    events = events_of(stream)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]
    assert (start.message.id, start.message.model, start.message.content) == ("msg_x", "m", [])
    text = "".join(e.delta.text for n, e in events if n == "content_block_delta")
    assert text == "".join(TEXTS)
    delta = events[-2][1]
    assert (delta.delta.stop_reason, delta.usage.output_tokens, delta.usage.input_tokens) == (
        "max_tokens",
        4,
        21,
    )
    assert enc.closed and enc.text_events(["late"]) == b"" and enc.ping() == b""


def test_empty_stream_has_no_content_block() -> None:
    enc = MessagesStreamEncoder("m")
    assert enc.text_events([""]) == b""
    names = [name for name, _ in events_of(enc.finish_events("stop", USAGE, stop_sequence="###"))]
    assert names == ["message_start", "message_delta", "message_stop"]


def test_official_sdk_accumulates_our_stream() -> None:
    enc = MessagesStreamEncoder("m")
    body = enc.start_event() + enc.ping()
    body += enc.text_events(delta_texts([{"role": "assistant"}, {"content": TEXTS[0]}]))
    body += enc.text_events(TEXTS[1:]) + enc.finish_events(
        "stop", USAGE, stop_sequence="\n\nHuman:"
    )
    client = anthropic_client(body, sse=True)
    with client.messages.stream(model="m", max_tokens=8, messages=[USER]) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == "".join(TEXTS)
    assert final.content[0].type == "text" and final.content[0].text == "".join(TEXTS)
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "\n\nHuman:")
    assert (final.usage.input_tokens, final.usage.output_tokens) == (21, 4)


def test_official_sdk_raises_on_error_event() -> None:
    enc = MessagesStreamEncoder("m")
    body = enc.text_events(["partial"]) + enc.error_event(no_capacity("m"))
    assert enc.error_event(provider_failed()) == b"" and enc.finish_events("stop", USAGE) == b""
    assert events_of(body)[-1][1]["error"]["type"] == "overloaded_error"
    stream = anthropic_client(body, sse=True).messages.create(
        model="m", max_tokens=8, messages=[USER], stream=True
    )
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        for _ in stream:
            pass


def test_sdk_maps_error_bodies_to_its_exceptions() -> None:
    err = ApiError(429, "slow down", retry_after=2)
    client = anthropic_client(json.dumps(err.anthropic_body()).encode(), status=429)
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="m", max_tokens=8, messages=[USER])
    assert info.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }
