"""OpenAI request models: parsing, rejection with named params, the wire body built."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchyard.protocol.chat_request import ChatRequestBody
from switchyard.protocol.completion_request import (
    DEFAULT_COMPLETION_MAX_TOKENS,
    CompletionRequest,
    completion_wire_request,
)
from switchyard.protocol.errors import ApiError, parse_json_body
from switchyard.protocol.frames import (
    InferenceRequestFrame,
    dump_frame,
    parse_coordinator_frame,
)
from switchyard.protocol.openai_api import wire_chat_request

USER = {"role": "user", "content": "hello"}


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": "llama-3-8b", "messages": [USER], **fields}


def chat(**fields: Any) -> ChatRequestBody:
    return parse_json_body(json.dumps(chat_body(**fields)).encode(), ChatRequestBody)


def wire(**fields: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(chat_body(**fields)))
    req = chat(**fields)
    return wire_chat_request(data, req, req.requested_max_tokens)


def completion(**fields: Any) -> CompletionRequest:
    body = {"model": "llama-3-8b", "prompt": "Once upon", **fields}
    return parse_json_body(json.dumps(body).encode(), CompletionRequest)


def rejected(model_cls: type, body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_json_body(json.dumps(body).encode(), model_cls)
    return info.value


def assert_fits_the_wire(body: dict[str, Any]) -> None:
    frame = InferenceRequestFrame(request_id="r1", model="m", request=body, deadline=1.0)
    assert parse_coordinator_frame(dump_frame(frame)) == frame


def test_minimal_chat_wire_body_with_defaults() -> None:
    req = chat()
    body = wire()
    assert body == {  # no max_tokens: the model's own limit (the coordinator decides)
        "model": "llama-3-8b",
        "messages": [USER],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert req.stream is False and req.include_usage is False
    assert_fits_the_wire(body)


def test_the_wire_body_is_the_consumers_own_but_for_what_the_coordinator_owns() -> None:
    messages = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "content": "42", "tool_call_id": "t1"},
    ]
    extra = {"top_k": 5, "min_p": 0.1, "chat_template_kwargs": {"x": [1, {"y": None}]}}
    body = wire(
        messages=messages,
        temperature=0.5,
        seed=-7,
        max_completion_tokens=100,
        user="u-1",
        stream=False,
        stream_options={"include_usage": False},
        frequency_penalty=None,
        stop=["", "END"],
        **extra,
    )
    assert body["messages"] == [{"role": "system", "content": "be brief"}, *messages[1:]]
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (100, 0.5, -7)
    assert body["stop"] == ["END"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    for name in ("user", "max_completion_tokens", "frequency_penalty"):
        assert name not in body
    assert {k: body[k] for k in extra} == extra
    assert_fits_the_wire(body)


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert chat(max_tokens=10, max_completion_tokens=20).requested_max_tokens == 20
    assert chat(max_tokens=10).requested_max_tokens == 10
    assert chat().requested_max_tokens is None


@pytest.mark.parametrize(
    ("stop", "expected"),
    [("END", ["END"]), (["a", "", "b"], ["a", "b"]), ([], None), ("", None), (None, None)],
)
def test_stop_forms(stop: Any, expected: list[str] | None) -> None:
    assert wire(stop=stop).get("stop") == expected


def test_include_usage_needs_stream() -> None:
    assert chat(stream=True, stream_options={"include_usage": True}).include_usage is True
    assert chat(stream=False, stream_options={"include_usage": True}).include_usage is False
    assert chat(stream=True, stream_options=None).include_usage is False
    assert chat(stream=True).include_usage is False


def test_openai_features_and_nulls_are_accepted() -> None:
    tools = [{"type": "function", "function": {"name": "get-x_1", "parameters": {}}}]
    req = chat(
        tools=tools,
        tool_choice="required",
        frequency_penalty=0.3,
        logit_bias={"1": 2},
        response_format={"type": "json_object"},
        logprobs=True,
        top_logprobs=20,
        n=8,
        stream=None,
        temperature=None,
    )
    assert req.stream is False and req.choices == 8
    assert chat(n=None).choices == 1
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}
    assert chat(messages=[{"role": "user", "content": [image]}]).messages


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0]"),
        ({"messages": [USER, {"role": "user"}]}, "messages[1].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]},
            "messages[0].tool_calls[0].function",
        ),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
            "messages[0].content",
        ),
        ({"messages": [{"role": "user", "content": ["text"]}]}, "messages[0].content"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        (
            {"tools": [{"type": "function", "function": {"name": "a", "parameters": 1}}]},
            "tools[0].function.parameters",
        ),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": 1}}},
            "response_format.json_schema.schema",
        ),
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logit_bias": {"x": 1}}, "logit_bias.x"),
        ({"frequency_penalty": 2.5}, "frequency_penalty"),
        ({"messages": [7]}, "messages[0]"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": 10**9}, "max_completion_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"n": 9}, "n"),
        ({"n": 0}, "n"),
        ({"stop": [1]}, "stop"),
        ({"stop": ["s"] * 33}, "stop"),
        ({"stop": "x" * 1025}, "stop"),
        ({"stream": "true"}, "stream"),
        ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
        ({"stream_options": []}, "stream_options"),
        ({"seed": 2**64}, "seed"),
        ({"user": 5}, "user"),
    ],
)
def test_chat_rejections_name_the_param(fields: dict[str, Any], param: str) -> None:
    body = {"model": "m", "messages": [USER], **fields}
    err = rejected(ChatRequestBody, body)
    assert err.status == 400
    assert err.param == param
    assert f"'{param}'" in err.message
    assert err.type == "invalid_request_error"
    for internal in ("UserMessage", "pydantic", "Traceback", "StreamOptions", "role:"):
        assert internal not in err.message


def test_missing_model_is_reported_as_missing() -> None:
    err = rejected(ChatRequestBody, {"messages": [USER]})
    assert err.message.startswith("Missing required parameter: 'model'")


def test_completion_prompt_forms_and_defaults() -> None:
    req = completion(prompt=["Hi there"], stop="\n", user="u")
    body = completion_wire_request(req.model_dump(exclude_unset=True), req)
    assert body["prompt"] == ["Hi there"] and "messages" not in body
    assert body["max_tokens"] == DEFAULT_COMPLETION_MAX_TOKENS
    assert body["stop"] == ["\n"] and "user" not in body and body["stream"] is True
    assert_fits_the_wire(body)
    for prompt, choices in (("x", 1), (["a", "b"], 2), ([1, 2, 3], 1), ([[1], [2, 3]], 2)):
        assert completion(prompt=prompt, n=2).choices == 2 * choices
    fields = {"max_tokens": 5, "suffix": "}", "echo": True, "logprobs": 3, "best_of": 2, "top_k": 4}
    full = completion(**fields)
    wire = completion_wire_request({"model": "m", "prompt": "p", **fields}, full)
    assert {k: wire[k] for k in fields} == fields  # sent as the consumer wrote them


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": []}, "prompt"),
        ({"prompt": [[]]}, "prompt"),
        ({"prompt": [-1]}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"prompt": ["p"] * 129}, "prompt"),
        ({"best_of": 1, "n": 2}, None),
        ({"n": 200}, "n"),
        ({"logprobs": 21}, "logprobs"),
        ({"suffix": 3}, "suffix"),
        ({"max_tokens": -1}, "max_tokens"),
    ],
)
def test_completion_rejections(fields: dict[str, Any], param: str | None) -> None:
    err = rejected(CompletionRequest, {"model": "m", "prompt": "p", **fields})
    assert (err.status, err.param) == (400, param)


def test_completion_choices_are_bounded_by_the_wire_index() -> None:
    err = rejected(CompletionRequest, {"model": "m", "prompt": ["a"] * 20, "n": 8})
    assert err.status == 400 and "at most 128" in err.message


def test_completion_nulls_are_defaults_and_sampling_fields_are_forwarded() -> None:
    data = {"model": "m", "prompt": "p", "suffix": None, "logprobs": None,
            "frequency_penalty": 0.5, "presence_penalty": -1, "logit_bias": {"42": 5}}  # fmt: skip
    req = parse_json_body(json.dumps(data).encode(), CompletionRequest)
    wire = completion_wire_request(data, req)
    assert wire["frequency_penalty"] == 0.5 and wire["presence_penalty"] == -1
    assert wire["logit_bias"] == {"42": 5}
    assert "suffix" not in wire and "logprobs" not in wire
