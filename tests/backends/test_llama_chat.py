"""Switchyard in front of a real llama.cpp `llama-server`, compared with direct requests.

Every answer through the coordinator and a real `switchyard provider --backend openai`
must equal what the same request gets from `llama-server` itself: text (greedy, or sampled
with a seed), finish reason and usage, streaming and not, through the official OpenAI and
Anthropic SDKs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest

from ..integration.harness import no_slots_reserved
from ..polling import wait_until
from .stack import LlamaServer, Stack

pytestmark = pytest.mark.backends

PROMPTS = ("Hello!", "Write a haiku about routers.", "2 + 2 =")
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 16}


@dataclass(frozen=True)
class Answer:
    """What a chat completion said, streamed or not, reduced to what must match."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


def direct_client(llama: LlamaServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=llama.v1, api_key="unused", max_retries=0)


def switchyard_client(stack: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stack.v1, api_key=stack.api_key, max_retries=0)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def ask(client: openai.AsyncOpenAI, model: str, prompt: str, **kw: Any) -> Answer:
    reply = await client.chat.completions.create(model=model, messages=user(prompt), **kw)
    choice, usage = reply.choices[0], reply.usage
    return Answer(
        choice.message.content or "",
        choice.finish_reason,
        usage.prompt_tokens if usage else None,
        usage.completion_tokens if usage else None,
    )


async def ask_streaming(client: openai.AsyncOpenAI, model: str, prompt: str, **kw: Any) -> Answer:
    stream = await client.chat.completions.create(
        model=model,
        messages=user(prompt),
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    text, finish, usage = "", None, None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    return Answer(
        text,
        finish,
        usage.prompt_tokens if usage else None,
        usage.completion_tokens if usage else None,
    )


async def test_models_lists_the_upstream_model(llama_server: LlamaServer, stack: Stack) -> None:
    via = switchyard_client(stack)
    ids = [m.id async for m in via.models.list()]
    assert ids == [llama_server.model]


async def test_greedy_chat_matches_llama_server(llama_server: LlamaServer, stack: Stack) -> None:
    direct, via = direct_client(llama_server), switchyard_client(stack)
    model = llama_server.model
    for prompt in PROMPTS:
        expected = await ask(direct, model, prompt, **GREEDY)
        assert expected.text and expected.completion_tokens  # the model does answer
        assert await ask(via, model, prompt, **GREEDY) == expected
        assert await ask_streaming(via, model, prompt, **GREEDY) == expected
        assert await ask_streaming(direct, model, prompt, **GREEDY) == expected
    await wait_until(lambda: no_slots_reserved(stack.running))


async def test_seeded_sampling_matches_llama_server(
    llama_server: LlamaServer, stack: Stack
) -> None:
    """`seed` and `temperature` reach llama.cpp: a sampled answer is reproduced exactly."""
    direct, via = direct_client(llama_server), switchyard_client(stack)
    sampled = {"temperature": 1.0, "top_p": 0.9, "seed": 1234, "max_tokens": 16}
    expected = await ask(direct, llama_server.model, PROMPTS[1], **sampled)
    greedy = await ask(direct, llama_server.model, PROMPTS[1], **GREEDY)
    assert expected != greedy  # the sampling parameters matter for this prompt
    assert await ask(via, llama_server.model, PROMPTS[1], **sampled) == expected
    assert await ask_streaming(via, llama_server.model, PROMPTS[1], **sampled) == expected


async def test_stop_sequence_matches_llama_server(llama_server: LlamaServer, stack: Stack) -> None:
    direct, via = direct_client(llama_server), switchyard_client(stack)
    model, prompt = llama_server.model, PROMPTS[0]
    full = await ask(direct, model, prompt, **GREEDY)
    # A stop string that first occurs mid-answer, so the cut is visible.
    stop = next(
        full.text[i : i + 2]
        for i in range(3, len(full.text) - 2)
        if full.text[i : i + 2].strip() and full.text.find(full.text[i : i + 2]) == i
    )
    expected = await ask(direct, model, prompt, stop=[stop], **GREEDY)
    assert expected.finish_reason == "stop"
    assert expected.text == full.text[: full.text.index(stop)]
    assert await ask(via, model, prompt, stop=[stop], **GREEDY) == expected
    assert await ask_streaming(via, model, prompt, stop=[stop], **GREEDY) == expected


async def test_generation_ends_at_the_context_limit_like_llama_server(
    llama_server: LlamaServer, stack: Stack
) -> None:
    """A prompt that leaves little room: llama.cpp stops at n_ctx with `length`, both ways."""
    direct, via = direct_client(llama_server), switchyard_client(stack)
    prompt = "x " * (llama_server.n_ctx // 2 - 40)
    kw = {"temperature": 0, "max_tokens": llama_server.n_ctx}
    expected = await ask(direct, llama_server.model, prompt, **kw)
    assert expected.finish_reason == "length"
    assert expected.prompt_tokens is not None and expected.completion_tokens is not None
    assert expected.prompt_tokens + expected.completion_tokens <= llama_server.n_ctx
    assert expected.completion_tokens < llama_server.n_ctx  # cut by the context, not max_tokens
    assert await ask(via, llama_server.model, prompt, **kw) == expected
    assert await ask_streaming(via, llama_server.model, prompt, **kw) == expected


async def test_anthropic_messages_match_llama_server(
    llama_server: LlamaServer, stack: Stack
) -> None:
    direct = direct_client(llama_server)
    client = anthropic.AsyncAnthropic(
        base_url=stack.running.base_url, api_key=stack.api_key, max_retries=0
    )
    model, prompt = llama_server.model, PROMPTS[2]
    expected = await ask(direct, model, prompt, **GREEDY)
    assert expected.finish_reason == "length"
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": GREEDY["max_tokens"],
        "messages": user(prompt),
        "extra_body": {"temperature": 0},  # the SDK (2.x) has no `temperature` argument
    }
    message = await client.messages.create(**request)
    async with client.messages.stream(**request) as stream:
        streamed = await stream.get_final_message()
    for got in (message, streamed):
        assert "".join(b.text for b in got.content if b.type == "text") == expected.text
        assert got.stop_reason == "max_tokens"
        assert got.usage.input_tokens == expected.prompt_tokens
        assert got.usage.output_tokens == expected.completion_tokens
