"""OpenAI request models: parsing, rejection with named params, normalization to the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchyard.protocol.errors import ApiError, parse_json_body
from switchyard.protocol.frames import (
    ChatRequestBody,
    InferenceRequestFrame,
    dump_frame,
    parse_coordinator_frame,
)
from switchyard.protocol.openai_api import (
    DEFAULT_COMPLETION_MAX_TOKENS,
    ChatCompletionRequest,
    CompletionRequest,
    chat_to_normalized,
    completion_to_normalized,
)

USER = {"role": "user", "content": "hello"}


def chat(**fields: Any) -> ChatCompletionRequest:
    body = {"model": "llama-3-8b", "messages": [USER], **fields}
    return parse_json_body(json.dumps(body).encode(), ChatCompletionRequest)


def completion(**fields: Any) -> CompletionRequest:
    body = {"model": "llama-3-8b", "prompt": "Once upon", **fields}
    return parse_json_body(json.dumps(body).encode(), CompletionRequest)


def rejected(model_cls: type, body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_json_body(json.dumps(body).encode(), model_cls)
    return info.value


def assert_fits_the_wire(body: ChatRequestBody) -> None:
    frame = InferenceRequestFrame(request_id="r1", model="m", request=body, deadline=1.0)
    assert parse_coordinator_frame(dump_frame(frame)) == frame


def test_minimal_chat_normalizes_with_defaults() -> None:
    req = chat()
    body = chat_to_normalized(req)
    assert [(m.role, m.content) for m in body.messages] == [("user", "hello")]
    assert body.max_tokens is None  # the model's own limit (decided by the coordinator)
    assert (body.temperature, body.top_p, body.stop, body.seed) == (None, None, None, None)
    assert req.stream is False and req.include_usage is False
    assert_fits_the_wire(body)


def test_chat_roles_parts_and_sampling_are_carried() -> None:
    req = chat(
        messages=[
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "tool", "content": "42", "tool_call_id": "t1"},
        ],
        temperature=0.5,
        top_p=1,
        seed=-7,
        max_tokens=100,
        user="u-1",
    )
    body = chat_to_normalized(req, default_max_tokens=9)
    assert [(m.role, m.content) for m in body.messages] == [
        ("system", "be brief"),
        ("user", "a\nb"),
        ("assistant", ""),
        ("tool", "42"),
    ]
    assert (body.max_tokens, body.temperature, body.top_p, body.seed) == (100, 0.5, 1.0, -7)
    assert req.user == "u-1"
    assert_fits_the_wire(body)


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert chat_to_normalized(chat(max_tokens=10, max_completion_tokens=20)).max_tokens == 20
    assert chat_to_normalized(chat(max_tokens=10)).max_tokens == 10
    assert chat_to_normalized(chat(), default_max_tokens=77).max_tokens == 77


@pytest.mark.parametrize(
    ("stop", "expected"),
    [("END", ["END"]), (["a", "", "b"], ["a", "b"]), ([], None), ("", None), (None, None)],
)
def test_stop_forms(stop: Any, expected: list[str] | None) -> None:
    assert chat_to_normalized(chat(stop=stop)).stop == expected


def test_include_usage_needs_stream() -> None:
    assert chat(stream=True, stream_options={"include_usage": True}).include_usage is True
    assert chat(stream=False, stream_options={"include_usage": True}).include_usage is False
    assert chat(stream=True, stream_options=None).include_usage is False
    assert chat(stream=True).include_usage is False


def test_unknown_fields_and_nulls_are_accepted() -> None:
    req = chat(
        tools=[{"type": "function"}],
        frequency_penalty=0.3,
        logit_bias={"1": 2},
        response_format={"type": "text"},
        n=None,
        stream=None,
        temperature=None,
    )
    assert req.stream is False and req.n is None
    assert chat(n=1).n == 1


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [USER, {"role": "user"}]}, "messages[1]"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content",
        ),
        ({"messages": [{"role": "user", "content": ["text"]}]}, "messages[0].content"),
        ({"messages": [7]}, "messages[0]"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": 10**9}, "max_completion_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"n": 2}, "n"),
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
    err = rejected(ChatCompletionRequest, body)
    assert err.status == 400
    assert err.param == param
    assert f"'{param}'" in err.message
    assert err.type == "invalid_request_error"
    for internal in ("ChatMessageIn", "pydantic", "Traceback", "StreamOptions"):
        assert internal not in err.message


def test_missing_model_is_reported_as_missing() -> None:
    err = rejected(ChatCompletionRequest, {"messages": [USER]})
    assert err.message.startswith("Missing required parameter: 'model'")


def test_completion_prompt_forms_and_defaults() -> None:
    req = completion(prompt=["Hi there"], stop="\n")
    body = completion_to_normalized(req)
    assert [(m.role, m.content) for m in body.messages] == [("user", "Hi there")]
    assert body.max_tokens == DEFAULT_COMPLETION_MAX_TOKENS
    assert body.stop == ["\n"]
    assert_fits_the_wire(body)
    full = completion_to_normalized(
        completion(max_tokens=5, temperature=0, top_p=0.9, seed=3, echo=False, best_of=1)
    )
    assert (full.max_tokens, full.temperature, full.top_p, full.seed) == (5, 0.0, 0.9, 3)
    assert completion(prompt="", suffix="ignored").prompt == ""


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"echo": True}, "echo"),
        ({"best_of": 3}, "best_of"),
        ({"n": 4}, "n"),
        ({"max_tokens": -1}, "max_tokens"),
    ],
)
def test_completion_rejections(fields: dict[str, Any], param: str) -> None:
    err = rejected(CompletionRequest, {"model": "m", "prompt": "p", **fields})
    assert (err.status, err.param) == (400, param)


def test_token_prompt_message_is_specific() -> None:
    err = rejected(CompletionRequest, {"model": "m", "prompt": [[1, 2]]})
    assert "exactly one string" in err.message
    err = rejected(CompletionRequest, {"model": "m", "prompt": [1, 2]})
    assert "token-id prompts are not supported" in err.message
