"""The official Anthropic SDK through a coordinator and a real `--backend openai` agent to the
fake vLLM-like upstream (issue #14): what the client sees of tools, thinking, images, stop
sequences and errors, and the chat-completions body the upstream received."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from switchyard.agent.sim_answer import reasoning_text
from switchyard.agent.simulated import SimulatedConfig

from .fake_upstream import (
    CONTEXT_ERROR,
    IMAGE_ANSWER,
    REASONING_PIECES,
    TOOL_CALLS,
    USAGE,
)
from .harness import Running, agents, coordinator, funded_key
from .test_openai_passthrough import MODEL, UPSTREAM_MODEL, through_agents

PNG = "iVBORw0KGgo="
BASE64_IMAGE = {
    "type": "image",
    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
}
CACHED = {"type": "ephemeral"}
TOOLS: list[Any] = [
    {
        "name": name,
        "description": "look it up",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    for name in ("get_weather", "get_time")
]


def user(case: str) -> list[Any]:
    return [{"role": "user", "content": case}]


def client_of(running: Running, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=running.base_url, api_key=key, max_retries=0)


async def both(client: anthropic.AsyncAnthropic, **kw: Any) -> list[Any]:
    """The message, from `messages.create` and from `messages.stream(...)`'s final message."""
    kw.setdefault("model", MODEL)
    kw.setdefault("max_tokens", 2048)
    created = await client.messages.create(**kw)
    async with client.messages.stream(**kw) as stream:
        streamed = await stream.get_final_message()
    return [created, streamed]


async def test_the_whole_request_reaches_the_upstream_translated() -> None:
    history: list[Any] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "weather?", "cache_control": CACHED}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "need tools", "signature": ""},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "text", "text": "and this?"},
                BASE64_IMAGE,
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
    ]  # fmt: skip
    async with through_agents() as (running, upstream, _):
        _, key = await funded_key(running)
        client = client_of(running, key)
        try:
            reply = await client.messages.create(
                model=MODEL, max_tokens=2048, messages=history,
                system=[{"type": "text", "text": "be terse"}, {"type": "text", "text": "be kind"}],
                tools=TOOLS, tool_choice={"type": "tool", "name": "get_weather"},
                thinking={"type": "enabled", "budget_tokens": 1024},
                stop_sequences=["END"], metadata={"user_id": "alice@example.com"},
                extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},  # not in SDK 2.x
            )  # fmt: skip
        finally:
            await client.close()
    assert [b.type for b in reply.content] == ["text"]
    assert reply.content[0].text == "Hello world"  # type: ignore[union-attr]
    assert (reply.stop_reason, reply.usage.output_tokens) == ("end_turn", 7)

    (got,) = upstream.bodies
    assert "metadata" not in got and "user" not in got and "alice" not in str(got)
    assert got["model"] == UPSTREAM_MODEL and got["stream"] is True
    assert got["messages"] == [
        {"role": "system", "content": "be terse\nbe kind"},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant", "content": "Let me look.", "reasoning_content": "need tools",
            "tool_calls": [{"id": "toolu_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
    ]  # fmt: skip
    assert [t["function"]["name"] for t in got["tools"]] == ["get_weather", "get_time"]
    assert got["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]
    assert got["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert got["chat_template_kwargs"] == {"enable_thinking": True}
    sampling = {k: got[k] for k in ("stop", "temperature", "top_p", "top_k", "max_tokens")}
    assert sampling == {"stop": ["END"], "temperature": 0.5, "top_p": 0.9, "top_k": 40,
                        "max_tokens": 2048}  # fmt: skip


async def test_tool_use_blocks_stream_and_non_stream() -> None:
    async with through_agents() as (running, upstream, _):
        _, key = await funded_key(running)
        client = client_of(running, key)
        try:
            messages = await both(client, messages=user("tools"), tools=TOOLS)
            events = []
            async with client.messages.stream(
                model=MODEL, max_tokens=64, messages=user("tools"), tools=TOOLS
            ) as stream:
                events = [event async for event in stream]
        finally:
            await client.close()
    for message in messages:
        assert message.stop_reason == "tool_use"
        calls = [(b.type, b.id, b.name, b.input) for b in message.content]  # type: ignore[union-attr]
        assert calls == [
            ("tool_use", "call_a", "get_weather", {"city": "Paris", "unit": "C"}),
            ("tool_use", "call_b", "get_time", {}),
        ]
        assert message.usage.output_tokens == USAGE["completion_tokens"]
    pieces = [e for e in events if e.type == "input_json"]
    assert len(pieces) > 4  # the arguments arrive in pieces, as the upstream sent them
    assert "".join(e.partial_json for e in pieces) == "".join(
        c["function"]["arguments"] for c in TOOL_CALLS
    )
    assert upstream.bodies[0]["tools"][1]["function"]["name"] == "get_time"


async def test_thinking_images_and_a_stop_sequence_let_through() -> None:
    image = BASE64_IMAGE
    async with through_agents() as (running, upstream, _):
        _, key = await funded_key(running)
        client = client_of(running, key)
        try:
            thought = await both(
                client, messages=user("reasoning"),
                thinking={"type": "enabled", "budget_tokens": 1024},
            )  # fmt: skip
            seen = await both(
                client, messages=[{"role": "user", "content": [{"type": "text", "text": "image"},
                                                               image, image]}],
            )  # fmt: skip
            stopped = await both(client, messages=user("stop_through"), stop_sequences=["END"])
        finally:
            await client.close()
    for message in thought:
        assert [b.type for b in message.content] == ["thinking", "text"]
        thinking = message.content[0].thinking  # type: ignore[union-attr]
        assert thinking == "".join(f"r{i} " for i in range(REASONING_PIECES))
        assert message.content[1].text == "42"  # type: ignore[union-attr]
        assert (message.stop_reason, message.usage.input_tokens) == ("end_turn", 11)
    for message in seen:
        assert message.content[0].text == IMAGE_ANSWER.format(2)  # type: ignore[union-attr]
    for message in stopped:  # cut once, where the sequence begins, and named
        assert message.content[0].text == "one two "  # type: ignore[union-attr]
        assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")
    assert upstream.bodies[0]["chat_template_kwargs"] == {"enable_thinking": True}
    assert upstream.bodies[2]["messages"][0]["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )


async def test_errors_are_in_anthropic_shape_with_the_upstream_status() -> None:
    async with through_agents() as (running, upstream, _):
        _, key = await funded_key(running)
        client = client_of(running, key)
        try:
            for stream in (False, True):
                with pytest.raises(anthropic.BadRequestError) as info:
                    await client.messages.create(
                        model=MODEL, max_tokens=64, messages=user("context"), stream=stream
                    )
                body = info.value.body
                assert body == {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": CONTEXT_ERROR},
                }
            with pytest.raises(anthropic.APIStatusError) as failed:
                await client.messages.create(
                    model=MODEL, max_tokens=64, messages=user("error_first"), stream=True
                )
            assert failed.value.status_code == 502
            midstream = await client.messages.create(
                model=MODEL, max_tokens=64, messages=user("midstream"), stream=True
            )
            with pytest.raises(anthropic.APIStatusError, match="the engine died"):
                async for _ in midstream:
                    pass
            refused = [
                {"role": "user", "content": [{"type": "document", "source": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nope"}]},
            ]
            for message in refused:
                with pytest.raises(anthropic.BadRequestError) as bad:
                    await client.messages.create(model=MODEL, max_tokens=64, messages=[message])
                assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
                assert "messages[0].content" in bad.value.message
        finally:
            await client.close()
    assert len(upstream.bodies) == 4  # the two refused requests never reached it


async def test_the_simulated_backend_answers_tools_and_thinking() -> None:
    sim = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=6, reasoning_tokens=4)
    async with coordinator() as running, agents(running, 1, sim):
        _, key = await funded_key(running)
        client = client_of(running, key)
        try:
            called = await both(
                client, model="sim-small", messages=user("weather?"), tools=TOOLS,
                tool_choice={"type": "tool", "name": "get_time"},
            )  # fmt: skip
            thought = await both(
                client, model="sim-small", messages=user("think"),
                thinking={"type": "enabled", "budget_tokens": 1024},
            )  # fmt: skip
        finally:
            await client.close()
    for message in called:
        assert message.stop_reason == "tool_use"
        assert [(b.type, b.name) for b in message.content] == [("tool_use", "get_time")]  # type: ignore[union-attr]
        assert isinstance(message.content[0].input, dict)  # type: ignore[union-attr]
    for message in thought:
        assert [b.type for b in message.content] == ["thinking", "text"]
        assert message.content[0].thinking == reasoning_text(4)  # type: ignore[union-attr]
        assert message.stop_reason == "end_turn"
