"""A Responses request as a chat-completions body: items, tools, formats, and the 400s."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.protocol.errors import ApiError, validate_body
from switchyard.protocol.responses_request import ResponsesRequest
from switchyard.protocol.responses_translate import input_items, responses_to_chat


def wire(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    req = validate_body({"model": "m", **body}, ResponsesRequest)
    return responses_to_chat(req, history or [], input_items(req))


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def parts(role: str, *content: dict[str, Any]) -> dict[str, Any]:
    return {"input": [{"role": role, "content": list(content)}]}


def fc(**fields: Any) -> dict[str, Any]:
    return {"input": [{"type": "function_call", "call_id": "c", "name": "f", **fields}]}


def refused(body: dict[str, Any]) -> str | None:
    with pytest.raises(ApiError) as caught:
        wire(body)
    assert caught.value.status == 400
    return caught.value.param


def test_a_string_input_is_one_user_turn_and_the_wire_streams() -> None:
    got = wire({"input": "hi", "instructions": "sys", "max_output_tokens": 9, "store": False})
    assert got == {
        "model": "m",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "max_tokens": 9,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_assistant_items_in_a_row_form_one_turn() -> None:
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "s"}]},
        {
            "type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
            "content": [{"type": "output_text", "text": "a", "annotations": [], "logprobs": None}],
        },
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "id": "fc"},
        {"type": "function_call_output", "call_id": "c1", "output": "r", "status": None},
        {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "t"}]},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "[]"},
    ]  # fmt: skip
    got = wire({"input": items})["messages"]
    assert got == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {
            "role": "assistant", "content": "a", "reasoning_content": "s",
            "tool_calls": [call("c1", "f", "{}")],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
        {
            "role": "assistant", "content": None, "reasoning_content": "t",
            "tool_calls": [call("c2", "g", "[]")],
        },
    ]  # fmt: skip


def test_history_comes_first_and_may_hold_the_call_an_output_answers() -> None:
    history = [
        {"type": "message", "role": "user", "content": "q"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ]
    body = {"input": [{"type": "function_call_output", "call_id": "c1", "output": "r"}]}
    assert [m["role"] for m in wire(body, history)["messages"]] == ["user", "assistant", "tool"]
    late = [*body["input"], {"type": "function_call_output", "call_id": "c9", "output": "r"}]
    with pytest.raises(ApiError) as caught:
        wire({"input": late}, history)
    assert caught.value.param == "input[1].call_id"  # indexed in the consumer's own input


def test_tools_formats_and_reasoning() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}
    got = wire({
        "input": "x", "tools": [tool], "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": False, "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
        "temperature": 0, "top_p": 1, "user": "u", "metadata": {"a": "b"}, "include": [],
        "truncation": "disabled", "service_tier": "auto", "background": False,
        "stream_options": {"include_obfuscation": False},
    })  # fmt: skip
    function = {"name": "f", "parameters": {"type": "object"}, "strict": True}
    assert got["tools"] == [{"type": "function", "function": function}]
    assert got["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert got["parallel_tool_calls"] is False and got["reasoning_effort"] == "high"
    assert got["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}},
    }  # fmt: skip
    assert (got["temperature"], got["top_p"]) == (0, 1)
    assert not {"user", "metadata", "include", "truncation", "service_tier"} & set(got)
    assert "response_format" not in wire({"input": "x", "text": {"format": {"type": "text"}}})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "tools": [{"type": "file_search"}]}, "tools[0]"),
        ({"input": "x", "tool_choice": "required"}, "tool_choice"),
        ({"input": "x", "prompt": {"id": "p"}}, "prompt"),
        ({"input": "x", "top_logprobs": 2}, "top_logprobs"),
        ({"input": "x", "service_tier": "flex"}, "service_tier"),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format"),
        ({"input": "x", "reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": []}, "input"),
        ({"input": ["x"]}, "input[0]"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": "x", "name": "n"}]}, "input[0].name"),
        ({"input": [{"role": "user", "content": []}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": "x", "id": 7}]}, "input[0].id"),
        ({"input": [{"role": "user", "content": "x", "id": ""}]}, "input[0].id"),
        ({"input": [{"role": "user", "content": "x", "id": "m" * 257}]}, "input[0].id"),
        ({"input": [{"role": "user", "content": "x", "status": "done"}]}, "input[0].status"),
        (parts("user", {"type": "input_file", "file_id": "f"}), "input[0].content[0].type"),
        (parts("user", {"type": "input_image", "file_id": "f"}), "input[0].content[0].file_id"),
        (
            parts("system", {"type": "input_image", "image_url": "https://a"}),
            "input[0].content[0].type",
        ),
        (
            parts("assistant", {"type": "output_text", "text": "a", "annotations": [{"x": 1}]}),
            "input[0].content[0].annotations",
        ),
        ({"input": [{**fc()["input"][0], "name": "a b", "arguments": "{}"}]}, "input[0].name"),
        (fc(arguments={}), "input[0].arguments"),
        (
            {"input": [{"type": "reasoning", "summary": [], "encrypted_content": "e"}]},
            "input[0].encrypted_content",
        ),
        ({"input": [{"type": "web_search_call", "id": "w"}]}, "input[0].type"),
    ],
)  # fmt: skip
def test_what_chat_cannot_carry_is_a_400_naming_it(body: dict[str, Any], param: str) -> None:
    assert refused(body) == param


_KEYS = [
    "type", "role", "content", "text", "image_url", "detail", "call_id", "name", "arguments",
    "output", "summary", "id", "status", "encrypted_content", "annotations", "x",
]  # fmt: skip
_WORDS = [
    "message", "user", "assistant", "system", "developer", "input_text", "input_image",
    "output_text", "refusal", "function_call", "function_call_output", "reasoning",
    "reasoning_text", "summary_text", "https://a/b.png", "c1", "f",
]  # fmt: skip
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(_WORDS),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS), children, max_size=6)
    ),
    max_leaves=30,
)


@given(items=st.lists(_json, min_size=1, max_size=5), history=st.booleans())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_input_is_translated_or_a_400(items: list[Any], history: bool) -> None:
    stored = [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]
    try:
        got = wire({"input": items}, stored if history else None)
    except ApiError as exc:
        assert exc.status == 400 and exc.param is not None
        return
    assert all(m["role"] in ("system", "user", "assistant", "tool") for m in got["messages"])
