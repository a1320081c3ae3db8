"""The official OpenAI SDK through a coordinator and real `--backend openai` agents to a fake
vLLM-like upstream: what the client sees, and what the upstream received (issue #14)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openai.lib.streaming.chat import ChatCompletionStreamState

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.settings import Settings

from ..polling import wait_until
from .fake_upstream import (
    CONTEXT_ERROR,
    LOGPROB_TOKENS,
    REASONING_PIECES,
    TOOL_CALLS,
    USAGE,
    FakeUpstream,
)
from .harness import Running, coordinator, funded_key, no_slots_reserved

MODEL = "m1"
UPSTREAM_MODEL = "upstream/model"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": "look it up",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time")
]


@asynccontextmanager
async def through_agents(
    count: int = 1, store: Any = None, settings: Settings | None = None
) -> AsyncIterator[tuple[Running, FakeUpstream, openai.AsyncOpenAI]]:
    """A coordinator (on `store` and with `settings`, if given), a fake upstream, and
    `count` openai-backend agents online."""
    async with coordinator(settings, store) as running, trio.open_nursery() as nursery:
        upstream: FakeUpstream = await nursery.start(FakeUpstream().run)
        _, token = await running.provider_token()
        agents = []
        for _ in range(count):
            config = AgentConfig(
                coordinator=running.base_url,
                token=token,
                backend="openai",
                upstream=upstream.url,
                models=(MODEL,),
                model_map={MODEL: UPSTREAM_MODEL},
                slots=4,
                reconnect_base_s=0.05,
                reconnect_cap_s=0.5,
                shutdown_grace_s=1.0,
            )
            agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
            nursery.start_soon(agent.run)
            agents.append(agent)

        async def online() -> bool:
            providers = await running.providers()
            return len(providers) == count and all(p["routable"] for p in providers)

        await wait_until(online, timeout=15)
        _, key = await funded_key(running)
        client = openai.AsyncOpenAI(base_url=running.base_url + "/v1", api_key=key, max_retries=0)
        try:
            yield running, upstream, client
            await wait_until(lambda: no_slots_reserved(running))
        finally:
            await client.close()
            for agent in agents:
                agent.stop(0.5)
            nursery.cancel_scope.cancel()


def user(case: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": case}]


async def streamed(client: openai.AsyncOpenAI, **kw: Any) -> tuple[Any, list[Any]]:
    """The SDK's own accumulation of a stream (its final completion) and the chunks."""
    state = ChatCompletionStreamState()
    chunks = []
    stream = await client.chat.completions.create(
        model=MODEL, stream=True, stream_options={"include_usage": True}, **kw
    )
    async for chunk in stream:
        chunks.append(chunk)
        state.handle_chunk(chunk)
    return state.current_completion_snapshot, chunks


async def test_the_whole_request_reaches_the_upstream_and_user_does_not() -> None:
    history = [
        {"role": "developer", "content": "be terse"},
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {"role": "assistant", "content": None, "tool_calls": TOOL_CALLS},
        {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "noon"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
    ]
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    sent: dict[str, Any] = {
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        "logprobs": True,
        "top_logprobs": 3,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.25,
        "logit_bias": {"42": -100, "7": 5},
        "seed": 1234,
        "temperature": 0.7,
        "top_p": 0.9,
        "stop": ["END", "STOP"],
        "max_tokens": 50,
    }
    extra = {"top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1}
    extra["chat_template_kwargs"] = {"enable_thinking": False}
    async with through_agents() as (_, upstream, client):
        reply = await client.chat.completions.create(
            model=MODEL, messages=history, user="alice@example.com", extra_body=extra, **sent
        )
        assert reply.choices[0].message.content == "Hello world"
        await client.chat.completions.create(model=MODEL, messages=user("text"), stream=True)

    got, streamed_body = upstream.bodies
    assert "user" not in got and "user" not in streamed_body
    assert got["model"] == UPSTREAM_MODEL
    assert got["stream"] is True and got["stream_options"] == {"include_usage": True}
    for name, value in {**sent, **extra}.items():
        assert got[name] == value, name
    expected_history = [{**history[0], "role": "system"}, *history[1:]]
    assert got["messages"] == expected_history
    assert streamed_body["stream"] is True and "max_tokens" in streamed_body


async def test_tool_calls_stream_and_non_stream_like_the_upstream_sent_them() -> None:
    async with through_agents() as (_, upstream, client):
        final, chunks = await streamed(client, messages=user("tools"), tools=TOOLS)
        choice = final.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = [c.model_dump(exclude_none=True) for c in choice.message.tool_calls or []]
        assert [{k: c[k] for k in ("id", "type", "function")} for c in calls] == TOOL_CALLS
        assert (
            final.usage is not None and final.usage.completion_tokens == USAGE["completion_tokens"]
        )
        assert sum(1 for c in chunks if c.choices and c.choices[0].delta.tool_calls) > 4

        reply = await client.chat.completions.create(
            model=MODEL, messages=user("tools"), tools=TOOLS
        )
        message = reply.choices[0].message
        assert reply.choices[0].finish_reason == "tool_calls"
        assert message.content is None
        assert [c.model_dump() for c in message.tool_calls or []] == TOOL_CALLS
        assert upstream.bodies[0]["tools"] == TOOLS


async def test_reasoning_refusal_and_logprobs_reach_the_client() -> None:
    async with through_agents() as (_, _upstream, client):
        final, chunks = await streamed(client, messages=user("reasoning"))
        reasoning = "".join(
            (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
            for c in chunks
            if c.choices
        )
        assert reasoning == "".join(f"r{i} " for i in range(REASONING_PIECES))
        assert final.choices[0].message.content == "42"
        details = final.usage.completion_tokens_details if final.usage else None
        assert details is not None and details.reasoning_tokens == REASONING_PIECES

        reply = await client.chat.completions.create(model=MODEL, messages=user("reasoning"))
        extra = reply.choices[0].message.model_extra or {}
        assert extra["reasoning_content"] == reasoning
        assert reply.usage and reply.usage.completion_tokens_details
        assert reply.usage.completion_tokens_details.reasoning_tokens == REASONING_PIECES

        reply = await client.chat.completions.create(model=MODEL, messages=user("refusal"))
        assert reply.choices[0].message.refusal == "I can't help with that."

        request = {"messages": user("logprobs"), "logprobs": True, "top_logprobs": 2}
        final, _ = await streamed(client, **request)
        for result in (final, await client.chat.completions.create(model=MODEL, **request)):
            logprobs = result.choices[0].logprobs
            assert logprobs is not None and logprobs.content is not None
            assert [(t.token, t.logprob) for t in logprobs.content] == LOGPROB_TOKENS
            assert [len(t.top_logprobs) for t in logprobs.content] == [2, 2]
            assert result.choices[0].message.content == "Hi!"


async def test_n_choices_keep_their_index_and_finish_reason() -> None:
    async with through_agents() as (_, upstream, client):
        final, _ = await streamed(client, messages=user("n2"), n=2)
        reply = await client.chat.completions.create(model=MODEL, messages=user("n2"), n=2)
        for result in (final, reply):
            got = [(c.index, c.message.content, c.finish_reason) for c in result.choices]
            assert got == [(0, "AB", "stop"), (1, "ab", "length")]
        assert upstream.bodies[0]["n"] == 2


async def test_upstream_400_passes_through_unretried_with_its_message() -> None:
    async with through_agents(count=2) as (_, upstream, client):
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as info:
                await client.chat.completions.create(
                    model=MODEL, messages=user("context"), stream=stream
                )
            assert info.value.status_code == 400
            assert isinstance(info.value.body, dict) and info.value.body["message"] == CONTEXT_ERROR
        assert len(upstream.bodies) == 2  # one attempt each: never tried on the other agent


async def test_a_stream_failing_before_its_first_token_is_an_http_error() -> None:
    async with through_agents() as (_, _upstream, client):
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=user("error_first"), stream=True
            )
        assert info.value.status_code == 502

        stream = await client.chat.completions.create(
            model=MODEL, messages=user("midstream"), stream=True
        )
        seen = ""
        with pytest.raises(openai.APIError, match="the engine died"):
            async for chunk in stream:
                seen += chunk.choices[0].delta.content or "" if chunk.choices else ""
        assert seen == "partial"


async def test_billing_counts_reasoning_and_tool_arguments_as_output() -> None:
    async with through_agents() as (running, _upstream, client):
        price = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 1_000_000}
        await running.admin.put(f"/admin/pricing/{MODEL}", json=price)
        before = (await client.get("/account", cast_to=object))["balance_micro_usd"]  # type: ignore[index]
        final, _ = await streamed(client, messages=user("reasoning"))
        assert final.usage is not None

        async def settled() -> bool:
            account = await client.get("/account", cast_to=object)
            return bool(account["balance_micro_usd"] != before)  # type: ignore[index]

        await wait_until(settled)
        after = (await client.get("/account", cast_to=object))["balance_micro_usd"]  # type: ignore[index]
        assert before - after == 11 + REASONING_PIECES + 1  # the upstream's usage, all of it


async def test_bad_tools_roles_and_images_are_400s_naming_the_field() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0]"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {"tools": [{"type": "function", "function": {"name": "no spaces"}}]},
            "tools[0].function.name",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
            "tools[0].function.parameters",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ]
            },
            "messages[0].content",
        ),
        ({"n": 9}, "n"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
    ]
    async with through_agents() as (running, upstream, client):
        for fields, param in cases:
            body = {"model": MODEL, "messages": user("text"), **fields}
            with pytest.raises(openai.BadRequestError) as info:
                await client.post("/chat/completions", body=body, cast_to=object)
            assert info.value.status_code == 400
            assert isinstance(info.value.body, dict) and info.value.body["param"] == param, fields
        image = "data:image/png;base64," + "A" * running.coord.settings.max_body_bytes
        content = [{"type": "image_url", "image_url": {"url": image}}]
        with pytest.raises(openai.APIStatusError) as too_big:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": content}]
            )
        assert too_big.value.status_code == 413
        assert upstream.bodies == []
