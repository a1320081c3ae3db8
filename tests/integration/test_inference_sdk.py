"""The official OpenAI and Anthropic SDKs against a coordinator with simulated providers."""

from __future__ import annotations

import anthropic
import openai
import pytest
import trio

from switchyard.agent.simulated import SimulatedConfig, simulated_text

from ..polling import wait_until
from .harness import agents, coordinator, funded_key, no_slots_reserved

SIM = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=12)
MESSAGES = [{"role": "user", "content": "hello there"}]


async def test_openai_async_client_stream_and_non_stream() -> None:
    async with coordinator() as running, agents(running, 2, SIM):
        _, key = await funded_key(running)
        client = openai.AsyncOpenAI(base_url=running.base_url + "/v1", api_key=key, max_retries=0)
        reply = await client.chat.completions.create(model="sim-small", messages=MESSAGES)
        assert reply.choices[0].message.content == simulated_text(12)
        assert reply.choices[0].finish_reason == "stop"
        assert reply.usage is not None and reply.usage.completion_tokens == 12
        assert reply.usage.prompt_tokens > 0

        stream = await client.chat.completions.create(
            model="sim-small",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, finish, usage = "", None, None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage is not None:
                usage = chunk.usage
        assert text == simulated_text(12) and finish == "stop"
        assert usage is not None and usage.completion_tokens == 12
        await client.close()
        await wait_until(lambda: no_slots_reserved(running))


async def test_openai_sync_client_and_length_finish() -> None:
    async with coordinator() as running, agents(running, 1, SIM):
        _, key = await funded_key(running)
        base = running.base_url + "/v1"

        def call() -> tuple[str, str, int]:
            client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
            r = client.chat.completions.create(model="sim-small", messages=MESSAGES, max_tokens=5)
            parts = [
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(
                    model="sim-small", messages=MESSAGES, stream=True
                )
                if c.choices
            ]
            assert "".join(parts) == simulated_text(12)
            c = client.completions.create(model="sim-small", prompt="say hi", max_tokens=3)
            assert c.choices[0].text == simulated_text(3)
            return r.choices[0].message.content or "", r.choices[0].finish_reason, len(parts)

        content, finish, _ = await trio.to_thread.run_sync(call)
        assert content == simulated_text(5) and finish == "length"


async def test_anthropic_client_stream_and_non_stream() -> None:
    async with coordinator() as running, agents(running, 1, SIM):
        _, key = await funded_key(running)
        client = anthropic.AsyncAnthropic(base_url=running.base_url, api_key=key, max_retries=0)
        message = await client.messages.create(
            model="sim-small", max_tokens=100, system="be brief", messages=MESSAGES
        )
        assert message.content[0].text == simulated_text(12)
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens == 12 and message.usage.input_tokens > 0

        async with client.messages.stream(
            model="sim-small", max_tokens=4, messages=MESSAGES
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == simulated_text(4) and final.stop_reason == "max_tokens"

        stopped = await client.messages.create(
            model="sim-small", max_tokens=100, messages=MESSAGES, stop_sequences=[" tok3"]
        )
        assert stopped.content[0].text == simulated_text(3)
        assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == " tok3"
        await client.close()


async def test_errors_are_typed() -> None:
    async with coordinator() as running, agents(running, 1, SIM):
        _, key = await funded_key(running)
        client = openai.AsyncOpenAI(base_url=running.base_url + "/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="no-such-model", messages=MESSAGES)
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="sim-small", messages=[])
        bad = openai.AsyncOpenAI(base_url=running.base_url + "/v1", api_key="sk-sy-nope")
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(model="sim-small", messages=MESSAGES)
        models = await client.models.list()
        assert [m.id for m in models.data] == ["sim-small"]
        await client.close()
        await bad.close()


async def test_stop_sequence_honoured_by_the_provider_is_reported() -> None:
    sim = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=12, honor_stop=True)
    async with coordinator() as running, agents(running, 1, sim):
        _, key = await funded_key(running)
        client = anthropic.AsyncAnthropic(base_url=running.base_url, api_key=key, max_retries=0)
        for stream in (False, True):
            if stream:
                async with client.messages.stream(
                    model="sim-small", max_tokens=100, messages=MESSAGES, stop_sequences=[" tok5"]
                ) as s:
                    message = await s.get_final_message()
            else:
                message = await client.messages.create(
                    model="sim-small", max_tokens=100, messages=MESSAGES, stop_sequences=[" tok5"]
                )
            assert message.content[0].text == simulated_text(5)
            assert message.stop_reason == "stop_sequence" and message.stop_sequence == " tok5"
        await client.close()
