"""Anthropic Messages as `/v1/messages` renders it: request checks the old text-only model
made (kept), the rendering adapter over `AnthropicRenderer`, and SDK error handling."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import Message

from switchyard.http.consumer_formats import AnthropicMessages
from switchyard.inference.output import Final, Usage
from switchyard.protocol.anthropic_request import parse_messages_request
from switchyard.protocol.anthropic_stream import AnthropicRenderer
from switchyard.protocol.anthropic_translate import anthropic_to_chat
from switchyard.protocol.chat_choices import Choices
from switchyard.protocol.errors import ApiError, no_capacity, provider_failed

from .sse import anthropic_client, parse_sse

USER = {"role": "user", "content": "Hello"}
USAGE = Usage(prompt_tokens=21, completion_tokens=4)


def parse(**fields: Any) -> Any:
    body = {"model": "m", "max_tokens": 8, "messages": [USER], **fields}
    return parse_messages_request(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "hi"}]}, "messages[0]"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"system": [{"type": "tool_result"}]}, "system[0]"),
        ({"system": 3}, "system"),
        ({"temperature": 1.5}, "temperature"),
        ({"stop_sequences": [None]}, "stop_sequences"),
        ({"top_k": -1}, "top_k"),
        ({"stream": 1}, "stream"),
        ({"metadata": {"user_id": 9}}, "metadata.user_id"),
    ],
)
def test_rejections_are_400s_in_anthropic_shape(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as info:
        parse(**fields)
    assert info.value.status == 400 and (info.value.param or "").startswith(param)
    assert info.value.anthropic_body()["error"]["type"] == "invalid_request_error"


def test_a_bare_stop_string_is_one_sequence_and_none_means_no_stop() -> None:
    assert parse(stop_sequences="END").stop_sequences == ["END"]
    assert "stop" not in anthropic_to_chat(parse())
    assert [m["role"] for m in anthropic_to_chat(parse(system=""))["messages"]] == ["user"]


def test_cut_stops_false_names_the_reported_sequence_without_cutting_again() -> None:
    # The coordinator already cut at "END"; text that merely begins a sequence is shown.
    r = AnthropicRenderer("m", stream=False, stop_sequences=["END", "##"], cut_stops=False)
    r.feed([{"content": "a #"}, {"content": "#b"}])
    r.finish("stop", prompt_tokens=1, completion_tokens=2, stop_sequence="END")
    msg = r.message()
    assert msg["content"] == [{"type": "text", "text": "a ##b"}]
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("stop_sequence", "END")


def test_non_streamed_body_renders_the_folded_choice_as_blocks() -> None:
    choices = Choices(1)
    choices.add([{"reasoning_content": "hm"}, {"content": "Hi"}, {"refusal": "!"}])
    head = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f"}}
    choices.add([{"tool_calls": [{**head, "function": {"name": "f", "arguments": '{"a"'}}]}])
    choices.add([{"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}])
    rendering = AnthropicMessages("m", False, ["END"], 21)
    body = rendering.body(choices, Final(("tool_calls",), USAGE))
    msg = Message.model_validate(body)
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[1].text == "Hi!"  # type: ignore[union-attr]
    assert msg.content[2].input == {"a": 1}  # type: ignore[union-attr]
    assert (msg.stop_reason, msg.usage.input_tokens, msg.usage.output_tokens) == ("tool_use", 21, 4)
    empty = AnthropicMessages("m", False, [], 1).body(Choices(1), Final(("length",), USAGE))
    assert (empty["content"], empty["stop_reason"]) == ([], "max_tokens")


def test_streamed_stop_sequence_reaches_the_sdk() -> None:
    rendering = AnthropicMessages("m", True, ["\n\nHuman:"], 0)
    body = rendering.deltas([{"content": "Hel"}, {"content": "lo"}])
    body += rendering.finish(Final(("stop",), USAGE, stop_sequence="\n\nHuman:"))
    with anthropic_client(body, sse=True).messages.stream(
        model="m", max_tokens=8, messages=[USER]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Hello"  # type: ignore[union-attr]
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "\n\nHuman:")
    assert (final.usage.input_tokens, final.usage.output_tokens) == (21, 4)


def test_official_sdk_raises_on_error_event() -> None:
    rendering = AnthropicMessages("m", True, [], 0)
    body = rendering.deltas([{"content": "partial"}]) + rendering.error(no_capacity("m"))
    assert rendering.error(provider_failed()) == b""
    assert rendering.finish(Final(("stop",), USAGE)) == b""
    assert json.loads(parse_sse(body)[-1][1])["error"]["type"] == "overloaded_error"
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
