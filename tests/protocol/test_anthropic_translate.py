"""Anthropic Messages request → OpenAI chat-completions body: every field, every refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.protocol.anthropic_request import parse_messages_request
from switchyard.protocol.anthropic_stream import AnthropicRenderer
from switchyard.protocol.anthropic_translate import TOOL_ERROR_PREFIX, anthropic_to_chat
from switchyard.protocol.errors import ApiError

USER = {"role": "user", "content": "What is the weather in Paris and Oslo?"}
WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
TOOL_TURN = {
    "role": "assistant",
    "content": [
        {"type": "thinking", "thinking": "Two cities: two calls.", "signature": ""},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Oslo"}},
    ],
}


def translate(**fields: Any) -> dict[str, Any]:
    body = {"model": "qwen", "max_tokens": 2048, "messages": [USER], **fields}
    return anthropic_to_chat(parse_messages_request(json.dumps(body).encode()))


def refusal(**fields: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        translate(**fields)
    assert info.value.status == 400
    assert info.value.anthropic_body()["error"]["type"] == "invalid_request_error"
    return info.value


def test_plain_request_keeps_sampling_and_drops_what_must_not_travel() -> None:
    body = translate(
        system=[{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Be kind."}],
        stop_sequences=["\n\nHuman:", ""],
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        metadata={"user_id": "user-42"},
        service_tier="auto",
        cache_control={"type": "ephemeral"},
        stream=True,
    )
    assert body == {
        "model": "qwen",
        "messages": [
            {"role": "system", "content": "Be terse.\nBe kind."},
            {"role": "user", "content": USER["content"]},
        ],
        "max_tokens": 2048,
        "stream": True,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["\n\nHuman:"],
    }
    assert "user-42" not in json.dumps(body)


def test_tools_tool_choice_and_parallel_calls() -> None:
    tools = [WEATHER, {**WEATHER, "name": "get_time", "strict": True, "cache_control": {}}]
    body = translate(tools=tools, tool_choice={"type": "auto", "disable_parallel_tool_use": True})
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "Current weather",
            },
        },
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "parameters": WEATHER["input_schema"],
                "description": "Current weather",
                "strict": True,
            },
        },
    ]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("auto", False)
    assert translate(tools=tools, tool_choice={"type": "any"})["tool_choice"] == "required"
    assert translate(tools=tools, tool_choice={"type": "none"})["tool_choice"] == "none"
    named = translate(tools=tools, tool_choice={"type": "tool", "name": "get_time"})
    assert named["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert "parallel_tool_calls" not in named


def test_tool_history_becomes_tool_calls_and_tool_messages() -> None:
    results = {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C"},
            {
                "type": "tool_result",
                "tool_use_id": "call_2",
                "is_error": True,
                "content": [{"type": "text", "text": "station offline"}],
            },
            {"type": "text", "text": "Summarize."},
        ],
    }
    body = translate(tools=[WEATHER], messages=[USER, TOOL_TURN, results])
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking both.",
            "reasoning_content": "Two cities: two calls.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": TOOL_ERROR_PREFIX + "station offline",
        },
        {"role": "user", "content": "Summarize."},
    ]


def test_images_in_user_turns_and_tool_results() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    turn = {"role": "assistant", "content": [{**TOOL_TURN["content"][2]}]}  # type: ignore[index]
    result = {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "is_error": True,
        "content": [image, {"type": "text", "text": "radar"}],
    }
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Look:"}, image, url]},
        turn,
        {"role": "user", "content": [result]},
    ]
    body = translate(messages=messages)
    data_url = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert body["messages"][0] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look:"},
            data_url,
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ],
    }
    assert body["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": [
            {"type": "text", "text": TOOL_ERROR_PREFIX},
            data_url,
            {"type": "text", "text": "radar"},
        ],
    }


@pytest.mark.parametrize(
    ("thinking", "enabled"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, True),
        ({"type": "adaptive"}, True),
        ({"type": "disabled"}, False),
    ],
)
def test_thinking_switches_the_chat_template(thinking: dict[str, Any], enabled: bool) -> None:
    body = translate(thinking=thinking)
    assert body["chat_template_kwargs"] == {"enable_thinking": enabled}
    assert "budget_tokens" not in json.dumps(body)


def test_final_assistant_turn_is_passed_as_prefill() -> None:
    body = translate(messages=[USER, {"role": "assistant", "content": "It is"}])
    assert body["messages"][-1] == {"role": "assistant", "content": "It is"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "messages[0].content[0]",
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": [{"type": "image"}]}]},
            "messages[1].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "redacted_thinking"}]}]},
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "x": 1}]}]},
            "messages[0].content[0].x",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "http://x.test/a"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].source.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/bmp",
                                    "data": "x",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].source.media_type",
        ),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
        ({"tools": [{**WEATHER, "type": "web_search_20250305"}]}, "tools[0].type"),
        ({"tools": [{**WEATHER, "name": "no spaces"}]}, "tools[0].name"),
        ({"tools": [{**WEATHER, "input_schema": {"type": "string"}}]}, "tools[0].input_schema"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice"),
        ({"thinking": {"type": "enabled"}}, "thinking"),
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}}, None),
        ({"container": "c-1"}, "container"),
        ({"metadata": {"user_id": "u", "extra": 1}}, "metadata.extra"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
    ],
)
def test_field_refusals_name_the_field(fields: dict[str, Any], param: str | None) -> None:
    err = refusal(**fields)
    if param is not None:
        assert err.param == param
    else:
        assert err.param is not None and err.param.startswith("thinking")


def test_unsupported_block_message_lists_what_is_supported() -> None:
    err = refusal(messages=[{"role": "user", "content": [{"type": "document"}]}])
    assert "unsupported content block type" in err.message
    assert "text, image, tool_result" in err.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "get_time"}},
            "tool_choice.name",
        ),
        ({"tool_choice": {"type": "any"}}, "tool_choice.type"),
        (
            {"max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 1024}},
            "thinking.budget_tokens",
        ),
        (
            {
                "messages": [
                    USER,
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_9"}]},
                ]
            },
            "messages[1].content[0].tool_use_id",
        ),
        (
            {
                "messages": [
                    USER,
                    TOOL_TURN,
                    {"role": "user", "content": "ok"},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1"}]},
                ]
            },
            "messages[3].content[0].tool_use_id",
        ),
    ],
)
def test_cross_field_refusals_name_the_field(fields: dict[str, Any], param: str) -> None:
    assert refusal(**fields).param == param


# ------------------------------------------------- round trip of tool histories (property)

_ids = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789_-", min_size=1, max_size=24)
_names = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)
_words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _words,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_words, inner, max_size=3),
    max_leaves=8,
)
_inputs = st.dictionaries(_words, _json, max_size=4)


@st.composite
def tool_rounds(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A conversation of assistant tool-use turns, each answered by its tool results."""
    messages: list[dict[str, Any]] = [USER]
    ids = iter(draw(st.lists(_ids, min_size=8, max_size=8, unique=True)))
    for _ in range(draw(st.integers(1, 3))):
        turn: list[dict[str, Any]] = []
        if draw(st.booleans()):
            turn.append({"type": "thinking", "thinking": draw(_words), "signature": ""})
        if draw(st.booleans()):
            turn.append({"type": "text", "text": draw(_words)})
        uses = [
            {"type": "tool_use", "id": next(ids), "name": draw(_names), "input": draw(_inputs)}
            for _ in range(draw(st.integers(1, 2)))
        ]
        results = [
            {
                "type": "tool_result",
                "tool_use_id": use["id"],
                "is_error": draw(st.booleans()),
                "content": draw(
                    _words | st.lists(_words.map(lambda t: {"type": "text", "text": t}), max_size=2)
                ),
            }
            for use in draw(st.permutations(uses))
        ]
        messages += [
            {"role": "assistant", "content": turn + uses},
            {"role": "user", "content": results},
        ]
    return messages


def _assistant_back(message: dict[str, Any]) -> list[dict[str, Any]]:
    """An assistant chat message, as deltas, rendered back to Anthropic blocks."""
    deltas: list[dict[str, Any]] = []
    if "reasoning_content" in message:
        deltas.append({"reasoning_content": message["reasoning_content"]})
    if message["content"]:
        deltas.append({"content": message["content"]})
    for i, tc in enumerate(message.get("tool_calls", ())):
        head = {"index": i, "id": tc["id"], "type": "function"}
        args = tc["function"]["arguments"]
        deltas += [
            {"tool_calls": [{**head, "function": {"name": tc["function"]["name"]}}]},
            {"tool_calls": [{"index": i, "function": {"arguments": args[:5]}}]},
            {"tool_calls": [{"index": i, "function": {"arguments": args[5:]}}]},
        ]
    renderer = AnthropicRenderer("qwen", stream=False)
    renderer.feed(deltas)
    renderer.finish("tool_calls", prompt_tokens=1, completion_tokens=1)
    return list(renderer.message()["content"])


def _result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    text = content if isinstance(content, str) else "\n".join(p["text"] for p in content)
    return (TOOL_ERROR_PREFIX if block["is_error"] else "") + text


@settings(max_examples=80, deadline=None)
@given(messages=tool_rounds())
def test_tool_history_round_trips(messages: list[dict[str, Any]]) -> None:
    """Anthropic → chat → Anthropic keeps ids, names, inputs, results and their order."""
    chat = translate(messages=messages)["messages"]
    assert chat[0] == {"role": "user", "content": USER["content"]}
    rest = iter(chat[1:])
    for original in messages[1:]:
        if original["role"] == "assistant":
            assert _assistant_back(next(rest)) == original["content"]
        else:
            for block in original["content"]:
                back = next(rest)
                assert back == {
                    "role": "tool",
                    "tool_call_id": block["tool_use_id"],
                    "content": _result_text(block),
                }
    assert next(rest, None) is None
