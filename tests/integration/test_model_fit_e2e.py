"""Context lengths and capabilities end to end (issue 14, items 5, 6 and 9's context part).

Two real provider agents (`--backend openai`) sit in front of two fake llama.cpp-like
upstreams (`/v1/models` with `meta`, `/props` with a 4,096-token slot, tools yes, vision
no). Agent A advertises what it probed; agent B declares `--models
tiny=tiny.gguf:2048,notools=tiny.gguf:2048 --capability tools=no --capability
tiny@vision=yes`. The official SDKs then see `/v1/models` list both, get a 400 for a
capability nobody has and for `max_tokens` beyond the context (nothing held, nothing sent
upstream), and requests that need tools, vision or a long context reach only the provider
that has them, tool definitions and images included, with the upstream's tool call
answered back. Run on both stores.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent import AgentConfig, ProviderAgent, parse_capabilities, parse_models
from switchyard.storage import open_store

from ..agent.fake_openai import FakeOpenAI
from ..polling import wait_until
from .harness import Running, coordinator, fast_settings, funded_key

PROPS = {
    "default_generation_settings": {"n_ctx": 4096},
    "modalities": {"vision": False},
    "chat_template_caps": {"supports_tool_calls": True},
}
LISTED = [{"id": "tiny.gguf", "owned_by": "llamacpp", "meta": {"n_ctx": 4096}}]
USAGE = {"prompt_tokens": 9, "completion_tokens": 3}
PRICE = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 1_000_000}
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
TOOL_CALL = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
TOOL_CALL_CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "choices": [{"index": 0, "delta": {"tool_calls": [TOOL_CALL]}}],
}
TOOL_CALL_EVENT = f"data: {json.dumps(TOOL_CALL_CHUNK)}\n\n"
PNG = (  # a 1x1 PNG
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "/58BAwAI/AL+hc2rNAAAAABJRU5ErkJggg=="
)
IMAGE_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": PNG}},
        ],
    }
]


@asynccontextmanager
async def fleet(running: Running) -> AsyncIterator[tuple[FakeOpenAI, FakeOpenAI]]:
    """Upstreams A and B, each behind an agent (see the module docstring), online."""
    _, token = await running.provider_token()
    async with trio.open_nursery() as servers, trio.open_nursery() as nursery:
        ups = [FakeOpenAI(models=LISTED, props=PROPS, usage=USAGE) for _ in range(2)]
        for upstream in ups:
            await servers.start(upstream.run)
        ids_a, map_a, ctx_a = parse_models("tiny=tiny.gguf")
        ids_b, map_b, ctx_b = parse_models("tiny=tiny.gguf:2048,notools=tiny.gguf:2048")
        configs = [
            (ups[0], ids_a, map_a, ctx_a, {}),
            (ups[1], ids_b, map_b, ctx_b, parse_capabilities(["tools=no", "tiny@vision=yes"])),
        ]
        started = []
        for upstream, ids, mapping, contexts, caps in configs:
            config = AgentConfig(
                coordinator=running.base_url, token=token, backend="openai",
                upstream=upstream.url, models=ids, model_map=mapping, model_context=contexts,
                capabilities=caps, slots=4, reconnect_base_s=0.05, reconnect_cap_s=0.5,
                shutdown_grace_s=1.0,
            )  # fmt: skip
            agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
            nursery.start_soon(agent.run)
            started.append(agent)

        async def online() -> bool:
            ps = await running.providers()
            return len(ps) == 2 and all(p["routable"] for p in ps)

        await wait_until(online, timeout=15)
        try:
            yield ups[0], ups[1]
        finally:
            for agent in started:
                agent.stop(0.5)
            servers.cancel_scope.cancel()  # nothing is in flight by now


@asynccontextmanager
async def sdk_clients(
    running: Running, key: str
) -> AsyncIterator[tuple[openai.AsyncOpenAI, anthropic.AsyncAnthropic]]:
    """Both SDKs' clients, closed on the way out (an SDK client left to the garbage
    collector schedules its close on whatever asyncio loop runs: trio-asyncio's)."""
    base = running.base_url
    async with (
        openai.AsyncOpenAI(base_url=base + "/v1", api_key=key, max_retries=0) as client,
        anthropic.AsyncAnthropic(base_url=base, api_key=key, max_retries=0) as claude,
    ):
        yield client, claude


async def account(running: Running, account_id: str) -> dict[str, Any]:
    return (await running.admin.get(f"/admin/accounts/{account_id}")).json()


async def settled(running: Running, account_id: str) -> dict[str, Any]:
    async def no_holds() -> dict[str, Any] | None:
        acct = await account(running, account_id)
        return acct if acct["open_holds"] == 0 else None

    return await wait_until(no_holds)


async def test_context_and_capabilities_route_and_refuse(
    store_target: tuple[str | None, str | None],
) -> None:
    url, schema = store_target
    async with (
        open_store(url, schema=schema) as store,
        coordinator(fast_settings(), store) as running,
    ):
        for model in ("tiny", "notools"):
            await running.admin.put(f"/admin/pricing/{model}", json=PRICE)
        async with fleet(running) as (up_a, up_b):
            account_id, key = await funded_key(running, 100_000_000)
            async with sdk_clients(running, key) as (client, claude):
                await routes_and_refuses(running, account_id, client, claude, up_a, up_b)


async def routes_and_refuses(
    running: Running,
    account_id: str,
    client: openai.AsyncOpenAI,
    claude: anthropic.AsyncAnthropic,
    up_a: FakeOpenAI,
    up_b: FakeOpenAI,
) -> None:
    """What the test above checks, once its fleet and clients are up."""

    # /v1/models: the largest context online, and what providers say they can do
    listed = {m.id: m.model_dump() for m in (await client.models.list()).data}
    tiny, notools = listed["tiny"], listed["notools"]
    assert (tiny["context_length"], notools["context_length"]) == (4096, 2048)
    assert tiny["capabilities"] == {
        "tools": "yes",
        "vision": "yes",
        "json_schema": "unknown",
        "reasoning": "unknown",
        "completions": "yes",
        "embeddings": "no",
    }  # fmt: skip  (llama.cpp serves completions; the fake's /v1/embeddings is a 404)
    assert (notools["capabilities"]["tools"], tiny["providers"]) == ("no", 2)
    assert notools["capabilities"]["vision"] == "no"  # declared for tiny only

    # a capability nobody serving the model has: 400 naming it, in each API's shape
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="notools", messages=MESSAGES, tools=TOOLS)
    error = caught.value.body
    assert (error["code"], error["param"]) == ("unsupported_capability", "tools")
    assert "tools" in error["message"]
    with pytest.raises(anthropic.BadRequestError) as refused:
        await claude.messages.create(
            model="notools", max_tokens=50, messages=MESSAGES,
            tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
        )  # fmt: skip
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    assert "tools" in refused.value.body["error"]["message"]
    with pytest.raises(openai.BadRequestError) as blind:
        await client.chat.completions.create(model="notools", messages=IMAGE_MESSAGES)
    assert (blind.value.body["code"], blind.value.body["param"]) == (
        "unsupported_capability",
        "messages",
    )
    # max_tokens beyond the largest context: 400 before anything is held
    with pytest.raises(openai.BadRequestError) as too_long:
        await client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=5000)
    assert too_long.value.body["code"] == "context_length_exceeded"
    assert "4096" in too_long.value.body["message"]
    acct = await settled(running, account_id)
    assert acct["balance_micro_usd"] == 100_000_000
    assert up_a.requests == [] and up_b.requests == []

    # needing tools or more context than B has: only A is ever chosen; the tools reach
    # its upstream and the upstream's tool call comes back
    up_a.extra_events, up_a.finish_reason = (TOOL_CALL_EVENT,), "tool_calls"
    for _ in range(4):
        reply = await client.chat.completions.create(
            model="tiny", messages=MESSAGES, tools=TOOLS, max_tokens=20
        )
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
        call = choice.message.tool_calls[0]
        assert (call.id, call.function.name) == ("call_1", "get_weather")
        assert json.loads(call.function.arguments) == {"city": "Paris"}
    up_a.extra_events, up_a.finish_reason = (), "stop"
    for _ in range(4):
        await client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=3000)
    assert up_b.requests == []
    assert [r["max_tokens"] for r in up_a.requests] == [20] * 4 + [3000] * 4
    assert all(r["tools"] == TOOLS for r in up_a.requests[:4])
    assert all("tools" not in r for r in up_a.requests[4:])

    # an image: only B (declared) sees, so only B gets it, the image part intact
    for _ in range(3):
        reply = await client.chat.completions.create(
            model="tiny", messages=IMAGE_MESSAGES, max_tokens=20
        )
        assert reply.choices[0].message.content == "Hello world!"
    assert len(up_a.requests) == 8
    assert [r["messages"] for r in up_b.requests] == [IMAGE_MESSAGES] * 3

    # no max_tokens: the model's own limit applies upstream
    for _ in range(4):
        reply = await client.chat.completions.create(model="tiny", messages=MESSAGES)
        assert reply.choices[0].message.content == "Hello world!"
    sent = up_a.requests[8:] + up_b.requests[3:]
    assert len(sent) == 4 and all("max_tokens" not in r for r in sent)


async def test_without_max_tokens_the_remaining_context_is_held() -> None:
    async with coordinator() as running:
        await running.admin.put("/admin/pricing/tiny", json=PRICE)
        async with fleet(running):
            # 2,000 micro-USD pays for ~2,000 tokens: not for the ~4,080 of context left
            account_id, key = await funded_key(running, 2_000)
            async with sdk_clients(running, key) as (client, _):
                with pytest.raises(openai.APIStatusError) as caught:
                    await client.chat.completions.create(model="tiny", messages=MESSAGES)
                assert caught.value.status_code == 402
                reply = await client.chat.completions.create(
                    model="tiny", messages=MESSAGES, max_tokens=100
                )
            assert reply.usage is not None and reply.usage.completion_tokens == 3
            acct = await settled(running, account_id)
            assert acct["balance_micro_usd"] == 2_000 - (9 + 3)
