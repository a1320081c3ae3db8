"""ResponsesRenderer: chat deltas → Responses events the OpenAI SDK accumulates, and the
same answer as a non-streamed response object."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response

from switchyard.protocol.errors import provider_failed
from switchyard.protocol.responses_request import ResponsesRequest
from switchyard.protocol.responses_stream import (
    ResponsesRenderer,
    request_echo,
    responses_usage,
)

from .sse import openai_client, parse_sse

ECHO = request_echo(ResponsesRequest.model_validate({"model": "m", "input": "hi"}))
USAGE = responses_usage(10, 20, reasoning_tokens=5, cached_tokens=3)
CALL_A = '{"city": "Paris"}'
DELTAS: list[dict[str, Any]] = [
    {"role": "assistant"},
    {"reasoning_content": "let me "},
    {"reasoning_content": "think"},
    {"content": "Hel"},
    {"content": "lo", "refusal": None},
    {"index": 1, "content": "choice 1 is never shown"},
    {"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ""}}]},
    {"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "g", "arguments": "{}"}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": CALL_A[:5]}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": CALL_A[5:]}}]},
    {"finish_reason": "tool_calls"},
]


def streamed(deltas: list[dict[str, Any]], finish: str = "stop") -> bytes:
    renderer = ResponsesRenderer("m", ECHO, stream=True)
    out = b"".join(renderer.feed([delta]) for delta in deltas)
    return out + renderer.finish(finish, USAGE)


def events(data: bytes) -> list[dict[str, Any]]:
    parsed = []
    for name, payload in parse_sse(data):
        event = json.loads(payload)
        assert event["type"] == name
        parsed.append(event)
    return parsed


def test_the_sdk_accumulates_the_stream_into_the_answer() -> None:
    data = streamed(DELTAS)
    with openai_client(data, sse=True) as client:
        with client.responses.stream(model="m", input="hi") as stream:
            final = stream.get_final_response()
    kinds = [item.type for item in final.output]
    assert kinds == ["reasoning", "message", "function_call", "function_call"]
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.content
    assert reasoning.content[0].text == "let me think"
    assert final.output_text == "Hello"
    calls = [(i.call_id, i.name, i.arguments) for i in final.output if i.type == "function_call"]
    assert calls == [("call_a", "f", CALL_A), ("call_b", "g", "{}")]
    assert final.usage is not None and final.usage.total_tokens == 30
    assert final.usage.input_tokens_details.cached_tokens == 3
    assert final.usage.output_tokens_details.reasoning_tokens == 5
    got = events(data)
    assert [e["sequence_number"] for e in got] == list(range(len(got)))


def test_every_delta_is_its_own_event_as_it_arrives() -> None:
    renderer = ResponsesRenderer("m", ECHO, stream=True)
    first = events(renderer.feed([{"content": "a"}]))
    assert [e["type"] for e in first] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
    ]  # fmt: skip
    second = events(renderer.feed([{"content": "b"}]))
    assert [(e["type"], e["delta"], e["sequence_number"]) for e in second] == [
        ("response.output_text.delta", "b", 5)
    ]
    assert renderer.feed([{"role": "assistant"}]) == b""


def test_the_non_streamed_body_matches_the_streamed_answer() -> None:
    renderer = ResponsesRenderer("m", ECHO, stream=False)
    assert renderer.feed(DELTAS) == b""
    assert renderer.finish("tool_calls", USAGE) == b""
    body = renderer.response()
    parsed = Response.model_validate(body)
    completed = events(streamed(DELTAS))[-1]
    assert completed["type"] == "response.completed"

    def without_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "id"} for item in items]

    assert without_ids(body["output"]) == without_ids(completed["response"]["output"])
    assert parsed.status == "completed" and parsed.output_text == "Hello"
    assert body["incomplete_details"] is None and body["error"] is None


def test_a_length_finish_is_incomplete() -> None:
    got = events(streamed([{"content": "cut sh"}], finish="length"))
    last = got[-1]
    assert last["type"] == "response.incomplete"
    response = last["response"]
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    done = [e for e in got if e["type"] == "response.output_item.done"]
    assert done[0]["item"]["status"] == "incomplete"


def test_a_refusal_is_a_refusal_part() -> None:
    renderer = ResponsesRenderer("m", ECHO, stream=True)
    data = renderer.feed([{"refusal": "I can't"}]) + renderer.finish("stop", USAGE)
    got = events(data)
    assert "response.refusal.delta" in [e["type"] for e in got]
    message = got[-1]["response"]["output"][0]
    assert message["content"] == [{"type": "refusal", "refusal": "I can't"}]


def test_an_error_after_output_ends_with_response_failed() -> None:
    renderer = ResponsesRenderer("m", ECHO, stream=True)
    renderer.feed([{"content": "partial"}])
    got = events(renderer.error_event(provider_failed()))
    assert [e["type"] for e in got] == ["error", "response.failed"]
    assert got[0]["code"] == "provider_error"
    failed = got[1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert renderer.closed and renderer.feed([{"content": "more"}]) == b""
    assert renderer.finish("stop", USAGE) == b""


def test_an_empty_answer_still_opens_and_completes() -> None:
    got = events(ResponsesRenderer("m", ECHO, stream=True).finish("stop", USAGE))
    assert [e["type"] for e in got] == [
        "response.created", "response.in_progress", "response.completed",
    ]  # fmt: skip
    assert got[-1]["response"]["output"] == []


_piece = st.text(min_size=1, max_size=4)
_delta = st.one_of(
    st.builds(lambda t: {"content": t}, _piece),
    st.builds(lambda t: {"reasoning_content": t}, _piece),
    st.builds(lambda t: {"refusal": t}, _piece),
    st.builds(lambda i, t: {"tool_calls": [call(i, t)]}, st.integers(0, 2), _piece),
)


def call(index: int, arguments: str) -> dict[str, Any]:
    function = {"name": "f", "arguments": arguments}
    return {"index": index, "id": f"call_{index}", "function": function}


@given(
    deltas=st.lists(_delta, max_size=12), finish=st.sampled_from(["stop", "length", "tool_calls"])
)
@settings(max_examples=150, deadline=None)
def test_any_delta_sequence_is_a_stream_the_sdk_accumulates(
    deltas: list[dict[str, Any]], finish: str
) -> None:
    data = streamed(deltas, finish)
    got = events(data)
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    if finish != "length":
        with openai_client(data, sse=True) as client:
            with client.responses.stream(model="m", input="hi") as stream:
                final = stream.get_final_response()
        texts = "".join(d.get("content", "") for d in deltas)
        assert final.output_text == texts
        arguments: dict[str, str] = {}
        for d in deltas:
            for c in d.get("tool_calls", ()):
                arguments[c["id"]] = arguments.get(c["id"], "") + c["function"]["arguments"]
        calls = {i.call_id: i.arguments for i in final.output if i.type == "function_call"}
        assert calls == arguments
    renderer = ResponsesRenderer("m", ECHO, stream=False)
    renderer.feed(deltas)
    renderer.finish(finish, USAGE)
    Response.model_validate(renderer.response())
