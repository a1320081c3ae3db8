"""ApiError renderings, validation-error conversion, body parsing, and fuzzing of all bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import ErrorResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from switchyard.protocol import errors
from switchyard.protocol.anthropic_request import parse_messages_request
from switchyard.protocol.anthropic_translate import anthropic_to_chat
from switchyard.protocol.chat_request import ChatRequestBody
from switchyard.protocol.completion_request import CompletionRequest, completion_wire_request
from switchyard.protocol.embeddings import EmbeddingRequest, embedding_wire_request
from switchyard.protocol.errors import ApiError, parse_json_body, validation_error_to_api_error
from switchyard.protocol.frames import dump_request_body
from switchyard.protocol.openai_api import wire_chat_request

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@pytest.mark.parametrize(("status", "kind"), sorted(ANTHROPIC_TYPES.items()))
def test_anthropic_shape_per_status(status: int, kind: str) -> None:
    err = ApiError(status, "boom")
    body = err.anthropic_body()
    assert body == {"type": "error", "error": {"type": kind, "message": "boom"}}
    if kind != "request_too_large":  # documented by Anthropic, absent from the SDK's union
        assert ErrorResponse.model_validate(body).error.type == kind


def test_openai_shape_and_overrides() -> None:
    err = ApiError(400, "bad", param="messages[0]", code="invalid_value")
    assert err.openai_body() == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "messages[0]",
            "code": "invalid_value",
        }
    }
    assert ApiError(418, "x", type="teapot").type == "teapot"
    assert ApiError(503, "x").type == "server_error"
    assert ApiError(401, "x").type == "authentication_error"
    assert str(err) == "bad" and "400" in repr(err)


def test_factories_have_the_design_statuses() -> None:
    made = {
        errors.invalid_request("x").status: "invalid",
        errors.authentication_failed().status: "auth",
        errors.insufficient_credit().status: "credit",
        errors.permission_denied("no").status: "perm",
        errors.model_not_found("m" * 500).status: "model",
        errors.request_too_large(4 << 20).status: "size",
        errors.rate_limited(1.2).status: "rate",
        errors.internal_error().status: "internal",
        errors.provider_failed().status: "provider",
        errors.no_capacity("m").status: "capacity",
        errors.gateway_timeout().status: "timeout",
    }
    assert sorted(made) == [400, 401, 402, 403, 404, 413, 429, 500, 502, 503, 504]
    assert len(errors.model_not_found("m" * 500).message) < 300


def test_retry_after_header() -> None:
    assert errors.rate_limited(1.2).headers() == {"Retry-After": "2"}
    assert errors.rate_limited(0.01).headers() == {"Retry-After": "1"}
    assert errors.no_capacity("m", retry_after=5).headers() == {"Retry-After": "5"}
    assert errors.provider_failed().headers() == {}


class Inner(BaseModel):
    size: int


class Outer(BaseModel):
    items: list[Inner]
    name: str


def test_validation_error_conversion_names_param_and_hides_input() -> None:
    with pytest.raises(ValidationError) as info:
        Outer.model_validate({"items": [{"size": "secret-value-xyz"}, 3], "name": None})
    err = validation_error_to_api_error(info.value)
    assert (err.status, err.param, err.code) == (400, "items[0].size", "invalid_value")
    assert "secret-value-xyz" not in err.message and "(2 more errors)" in err.message
    with pytest.raises(ValidationError) as info:
        Outer.model_validate({"items": [5], "name": "n"})
    err = validation_error_to_api_error(info.value)
    assert err.message == "Invalid type for 'items[0]': expected an object."
    assert "Inner" not in err.message


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \n",
        b"{",
        b"nul",
        b'{"model": NaN}',
        b'{"x": Infinity}',
        b"\xff\xfe\x00",
        b"[" * 100_000,
    ],
)
def test_unparseable_bodies_are_400(raw: bytes) -> None:
    with pytest.raises(ApiError) as info:
        parse_json_body(raw, ChatRequestBody)
    assert info.value.status == 400


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"str"', b"null", b"true"])
def test_non_objects_are_400(raw: bytes) -> None:
    with pytest.raises(ApiError, match="must be a JSON object"):
        parse_messages_request(raw)


def test_size_limit_is_413() -> None:
    with pytest.raises(ApiError) as info:
        parse_json_body(b"{" + b" " * 100 + b"}", ChatRequestBody, max_bytes=64)
    assert info.value.status == 413 and info.value.anthropic_type == "request_too_large"


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"model": "m", "messages": [{"role": "user", "content": "a\\udc00"}]}',
         "messages[0].content"),
        (b'{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", '
         b'"text": "ok"}, {"type": "text", "text": "\\uD800"}]}]}',
         "messages[0].content[1].text"),
        (b'{"model": "m", "messages": [], "stop": ["x", "\\udfff\\ud800"]}', "stop[1]"),
        (b'{"model": "m", "messages": [], "tools": [{"d\\udc00": 1}]}', "tools[0]"),
        (b'{"\\udc00": 1, "model": "m", "messages": []}', None),
    ],
)  # fmt: skip
def test_lone_surrogates_are_400_naming_the_parameter(raw: bytes, param: str | None) -> None:
    with pytest.raises(ApiError) as info:
        parse_json_body(raw, ChatRequestBody)
    err = info.value
    assert (err.status, err.type, err.param) == (400, "invalid_request_error", param)
    assert "surrogate" in err.message
    json.dumps(err.openai_body(), ensure_ascii=False).encode()  # renders as valid UTF-8


def test_surrogate_pairs_and_escaped_backslashes_are_fine() -> None:
    raw = b'{"model": "m", "prompt": "\\ud83d\\ude00 and \\\\udc00", "stop": ["\\\\uD800"]}'
    req = parse_json_body(raw, CompletionRequest)
    assert req.prompt == "\U0001f600 and \\udc00"
    assert req.stop == ["\\uD800"]
    dump_request_body(completion_wire_request(json.loads(raw), req))


def test_size_limit_counts_utf8_bytes_of_text_bodies() -> None:
    body = '{"model": "m", "prompt": "' + "€" * 30 + '"}'  # 58 characters, 118 bytes
    with pytest.raises(ApiError) as info:
        parse_json_body(body, CompletionRequest, max_bytes=100)
    assert info.value.status == 413
    assert parse_json_body(body, CompletionRequest, max_bytes=118).prompt == "€" * 30


# ----------------------------------------------------------------- fuzzing

KEYS = [
    "model", "messages", "role", "content", "type", "text", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "top_k", "stop", "stop_sequences", "stream", "stream_options",
    "include_usage", "seed", "n", "user", "prompt", "echo", "best_of", "system", "metadata",
    "user_id", "input", "dimensions", "encoding_format", "suffix", "logprobs",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["user", "assistant", "system", "developer", "tool", "text", "image", "m"])
    | st.sampled_from(["\udc00", "a\ud800b", "\ud83d\ude00"])  # lone surrogates, a pair
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)
MODELS = {
    ChatRequestBody: lambda req, data: wire_chat_request(data, req, 16),
    CompletionRequest: lambda req, data: completion_wire_request(data, req),
    EmbeddingRequest: lambda req, data: embedding_wire_request(data, req),
}


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` seven times in eight, so that fuzzing reaches past the first field."""
    return st.integers(0, 7).flatmap(lambda i: bad if i == 0 else good)


TEXT_PART = st.fixed_dictionaries(
    {"type": mostly(st.just("text"), SCALARS), "text": mostly(st.text(), SCALARS)}
)
IMAGE_PART = st.fixed_dictionaries(
    {
        "type": mostly(st.just("image_url"), SCALARS),
        "image_url": mostly(
            st.fixed_dictionaries(
                {"url": st.sampled_from(["https://x/a.png", "data:image/png;base64,AA", "ftp:x"])}
            ),
            JSON,
        ),
    }
)
FUNCTION = st.fixed_dictionaries(
    {"name": mostly(st.sampled_from(["f", "get_x"]), SCALARS)},
    optional={"parameters": mostly(st.just({"type": "object"}), JSON), "arguments": st.text()},
)
TOOL_CALL = st.fixed_dictionaries(
    {"id": mostly(st.just("c1"), SCALARS), "type": st.just("function"), "function": FUNCTION}
)
MESSAGE = st.fixed_dictionaries(
    {
        "role": mostly(st.sampled_from(["user", "assistant", "developer", "tool"]), SCALARS),
        "content": mostly(st.text(max_size=8) | st.lists(TEXT_PART | IMAGE_PART, max_size=2), JSON),
    },
    optional={
        "tool_calls": mostly(st.lists(TOOL_CALL, max_size=2), JSON),
        "tool_call_id": mostly(st.just("c1"), SCALARS),
    },
)
NEAR_VALID = st.fixed_dictionaries(
    {
        "model": mostly(st.just("m"), SCALARS),
        "max_tokens": mostly(st.integers(1, 4096), st.integers(-2, 2**70) | SCALARS),
        "messages": mostly(st.lists(MESSAGE, max_size=3), JSON),
        "prompt": mostly(st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=2), JSON),
    },
    optional={
        "stop": mostly(st.lists(st.text(max_size=3), max_size=3), JSON),
        "stop_sequences": mostly(st.lists(st.text(max_size=3), max_size=3), JSON),
        "system": mostly(st.text(max_size=5) | st.lists(TEXT_PART, max_size=2), JSON),
        "stream": mostly(st.booleans(), SCALARS),
        "stream_options": mostly(st.fixed_dictionaries({"include_usage": st.booleans()}), JSON),
        "temperature": mostly(st.floats(0, 1), SCALARS),
        "top_p": mostly(st.floats(0, 1), SCALARS),
        "seed": mostly(st.integers(), SCALARS),
        "n": mostly(st.integers(0, 3), SCALARS),
        "metadata": mostly(st.fixed_dictionaries({"user_id": st.text(max_size=3)}), JSON),
        "tools": mostly(
            st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": FUNCTION})),
            JSON,
        ),
        "tool_choice": mostly(st.sampled_from(["auto", "none", "required"]), JSON),
        "response_format": mostly(
            st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object"])}), JSON
        ),
        "logprobs": mostly(st.booleans(), SCALARS),
        "top_logprobs": mostly(st.integers(0, 20), SCALARS),
        "user": mostly(st.text(max_size=3), SCALARS),
    },
)


def check_only_api_errors(raw: bytes) -> None:
    """Every body either parses into a wire body that can be sent, or is a clean 4xx."""
    for model_cls, normalize in MODELS.items():
        try:
            req = parse_json_body(raw, model_cls, max_bytes=1 << 20)
        except ApiError as err:
            assert 400 <= err.status < 500
            assert err.message and "Traceback" not in err.message
            assert json.dumps(err.openai_body()) and json.dumps(err.anthropic_body())
            continue
        body: Any = normalize(req, json.loads(raw))  # type: ignore[operator]
        if model_cls is CompletionRequest:  # the prompt goes as it came ("" is a prompt)
            assert isinstance(body, dict) and "prompt" in body
        elif model_cls is EmbeddingRequest:
            assert isinstance(body, dict) and body["input"]
        else:
            assert isinstance(body, dict) and body["messages"]
        dump_request_body(body).decode()  # and can be sent to a provider
    try:  # /v1/messages: its own parser, and checks across fields in the translation
        body = anthropic_to_chat(parse_messages_request(raw, max_bytes=1 << 20))
    except ApiError as err:
        assert 400 <= err.status < 500
        assert err.message and "Traceback" not in err.message
        assert json.dumps(err.anthropic_body())
        return
    assert body["messages"]
    dump_request_body(body).decode()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_arbitrary_json_only_raises_api_errors(value: Any) -> None:
    check_only_api_errors(json.dumps(value).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(NEAR_VALID)
def test_near_valid_bodies_only_raise_api_errors(value: dict[str, Any]) -> None:
    check_only_api_errors(json.dumps(value).encode())


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_only_raise_api_errors(raw: bytes) -> None:
    check_only_api_errors(raw)
