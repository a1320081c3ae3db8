"""Embeddings, native completions, count_tokens and model info (issue #15, items 2-5),
through the official SDKs, a coordinator and a real `--backend openai` agent in front of
the recording fake upstream: what the upstream received, what the client got, and what
was charged (exactly)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig, parse_capabilities
from switchyard.inference.job import estimate_prompt_tokens
from switchyard.protocol.anthropic_request import parse_messages_request
from switchyard.protocol.anthropic_translate import anthropic_to_chat
from switchyard.settings import Settings

from ..polling import wait_until
from .fake_upstream import (
    COMPLETION_PIECES,
    EMBED_TOKENS,
    FakeUpstream,
    completion_usage,
    fake_embedding,
    fake_token_count,
    text_logprobs,
)
from .harness import Running, coordinator, funded_key, no_slots_reserved

MODEL, EMBED = "m1", "e1"
UPSTREAM_MODEL, UPSTREAM_EMBED = "upstream/model", "upstream/embed"
#: 1 micro-USD per input token and 2 per output token for MODEL; 2 per input token for EMBED.
PRICES = {
    MODEL: {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 2_000_000},
    EMBED: {"input_micro_usd_per_mtok": 2_000_000, "output_micro_usd_per_mtok": 0},
}
FUNDS = 10_000_000
CONTEXT = 4096  # the fake upstream's max_model_len


class Stack:
    """A running coordinator, its fake upstream, an account and SDK clients."""

    def __init__(
        self, running: Running, upstreams: list[FakeUpstream], account: str, key: str
    ) -> None:
        self.running, self.upstreams, self.account, self.key = running, upstreams, account, key
        self.upstream = upstreams[0]
        base = running.base_url
        self.openai = openai.AsyncOpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
        self.anthropic = anthropic.AsyncAnthropic(base_url=base, api_key=key, max_retries=0)

    async def balance(self) -> int:
        """The account's balance once no hold is open."""

        async def settled() -> int | None:
            acct = (await self.running.admin.get(f"/admin/accounts/{self.account}")).json()
            return None if acct["open_holds"] else int(acct["balance_micro_usd"])

        return await wait_until(settled, timeout=5)

    def calls(self, route: str, upstream: int = 0) -> list[dict[str, Any]]:
        """What an upstream received on `route` (the agent's start-up probes left out)."""
        received = self.upstreams[upstream].calls.get(route, [])
        return [c for c in received if c.get("input") != "probe"]


def agent_config(running: Running, token: str, upstream: FakeUpstream, *caps: str) -> AgentConfig:
    """An openai-backend agent serving MODEL and EMBED from `upstream` (`caps` declared)."""
    return AgentConfig(
        coordinator=running.base_url,
        token=token,
        backend="openai",
        upstream=upstream.url,
        models=(MODEL, EMBED),
        model_map={MODEL: UPSTREAM_MODEL, EMBED: UPSTREAM_EMBED},
        capabilities=parse_capabilities(list(caps)),
        slots=4,
        reconnect_base_s=0.05,
        reconnect_cap_s=0.5,
        shutdown_grace_s=1.0,
    )


@asynccontextmanager
async def stack(
    *capabilities: tuple[str, ...], tokenizer: bool = True, settings: Settings | None = None
) -> AsyncIterator[Stack]:
    """One agent per entry of `capabilities` (what it declares; one agent with nothing
    declared by default), each in front of its own vLLM-like fake serving MODEL and EMBED
    with a context of `CONTEXT` tokens; `Stack.upstream` is the first one's."""
    async with coordinator(settings) as running, trio.open_nursery() as nursery:
        for model, price in PRICES.items():
            await running.admin.put(f"/admin/pricing/{model}", json=price)
        _, token = await running.provider_token()
        agents, upstreams = [], []
        for caps in capabilities or ((),):
            upstream = FakeUpstream(
                (UPSTREAM_MODEL,), embed_models=(UPSTREAM_EMBED,), max_model_len=CONTEXT,
                tokenizer=tokenizer,
            )  # fmt: skip
            await nursery.start(upstream.run)
            agent = ProviderAgent(
                agent_config(running, token, upstream, *caps), key=Ed25519PrivateKey.generate()
            )
            nursery.start_soon(agent.run)
            agents.append(agent)
            upstreams.append(upstream)

        async def online() -> bool:
            providers = await running.providers()
            return len(providers) == len(agents) and all(p["routable"] for p in providers)

        await wait_until(online, timeout=15)
        account, key = await funded_key(running, FUNDS)
        s = Stack(running, upstreams, account, key)
        try:
            yield s
            await wait_until(lambda: no_slots_reserved(running))
        finally:
            await s.openai.close()
            await s.anthropic.close()
            for agent in agents:
                agent.stop(0.5)
            nursery.cancel_scope.cancel()


# ----------------------------------------------------------------- native completions


async def test_completion_with_suffix_echo_and_logprobs_reaches_the_upstream_whole() -> None:
    async with stack() as s:
        prompt = "def add(a, b):\n"
        got = await s.openai.completions.create(
            model=MODEL, prompt=prompt, suffix="\n    return c", echo=True, logprobs=2,
            max_tokens=7, seed=5, user="who", extra_body={"top_k": 3},
        )  # fmt: skip
        (sent,) = s.calls("/v1/completions")
        assert sent["model"] == UPSTREAM_MODEL and sent["prompt"] == prompt
        assert (sent["suffix"], sent["echo"], sent["logprobs"]) == ("\n    return c", True, 2)
        assert (sent["max_tokens"], sent["seed"], sent["top_k"]) == (7, 5, 3)
        assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
        assert "user" not in sent and "messages" not in sent

        (choice,) = got.choices
        assert choice.text == prompt + "".join(COMPLETION_PIECES)
        assert choice.finish_reason == "length"
        pieces = [prompt, *COMPLETION_PIECES]
        assert choice.logprobs is not None and choice.logprobs.tokens == pieces
        offsets, expected = 0, []
        for piece in pieces:
            expected.append(text_logprobs(piece, offsets))
            offsets += len(piece)
        assert choice.logprobs.token_logprobs == [-0.5] * 3
        assert choice.logprobs.top_logprobs == [e["top_logprobs"][0] for e in expected]
        assert choice.logprobs.text_offset == [e["text_offset"][0] for e in expected]
        usage = completion_usage(sent)
        assert got.usage is not None and got.usage.model_dump(exclude_none=True) == usage
        # 5 prompt tokens at 1, 2 completion tokens at 2 (the echoed prompt is not output)
        assert await s.balance() == FUNDS - (5 * 1 + 2 * 2)


async def test_streamed_token_array_prompts_with_n_give_every_choice() -> None:
    async with stack() as s:
        stream = await s.openai.completions.create(
            model=MODEL, prompt=[[1, 2], [3]], n=2, logprobs=0, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        texts: dict[int, str] = {}
        finishes: dict[int, str] = {}
        logprob_tokens: dict[int, list[str]] = {}
        usage = None
        chunks = 0
        async for chunk in stream:
            chunks += 1
            if chunk.usage is not None:
                usage = chunk.usage
            for c in chunk.choices:
                texts[c.index] = texts.get(c.index, "") + c.text
                if c.finish_reason:
                    finishes[c.index] = c.finish_reason
                if c.logprobs is not None and c.logprobs.tokens:
                    logprob_tokens.setdefault(c.index, []).extend(c.logprobs.tokens)
        (sent,) = s.calls("/v1/completions")
        assert sent["prompt"] == [[1, 2], [3]] and sent["n"] == 2 and sent["logprobs"] == 0
        hello = "".join(COMPLETION_PIECES)
        assert texts == {i: hello for i in range(4)}
        assert finishes == {i: "length" for i in range(4)}
        assert logprob_tokens == {i: list(COMPLETION_PIECES) for i in range(4)}
        assert chunks > 4  # incremental: a chunk per piece, not one replay
        assert usage is not None and usage.completion_tokens == 8
        assert await s.balance() == FUNDS - (5 * 1 + 8 * 2)


async def test_stop_sequences_are_still_enforced_on_completions() -> None:
    async with stack() as s:
        got = await s.openai.completions.create(model=MODEL, prompt="p", stop=[" wor"])
        assert got.choices[0].text == "Hello" and got.choices[0].finish_reason == "stop"
        assert s.calls("/v1/completions")[0]["stop"] == [" wor"]


async def test_a_provider_declaring_no_completions_is_not_chosen() -> None:
    async with stack((f"{MODEL}@completions=no",)) as s:
        with pytest.raises(openai.BadRequestError) as caught:
            await s.openai.completions.create(model=MODEL, prompt="p")
        body: Any = caught.value.body
        assert body["code"] == "unsupported_capability" and body["param"] == "prompt"
        assert s.calls("/v1/completions") == []
        assert await s.balance() == FUNDS


async def test_completions_go_only_to_the_providers_that_have_them() -> None:
    async with stack(("completions=no",), ()) as s:
        for _ in range(4):
            got = await s.openai.completions.create(model=MODEL, prompt="p")
            assert got.choices[0].text == "".join(COMPLETION_PIECES)
        assert (len(s.calls("/v1/completions", 0)), len(s.calls("/v1/completions", 1))) == (0, 4)
        # chat still goes to both: only completions need the capability
        info: Any = (await s.openai.models.retrieve(MODEL)).model_extra
        assert info["providers"] == 2 and info["capabilities"]["completions"] == "yes"


# ----------------------------------------------------------------- embeddings


async def test_embeddings_in_both_encodings_with_dimensions_billed_per_input_token() -> None:
    async with stack() as s:
        inputs = ["alpha", "beta gamma", "δ"]
        default = await s.openai.embeddings.create(model=EMBED, input=inputs, dimensions=6)
        floats = await s.openai.embeddings.create(
            model=EMBED, input=[[1, 2, 3], [4]], encoding_format="float"
        )
        first, second = s.calls("/v1/embeddings")
        assert first == {"input": inputs, "dimensions": 6, "model": UPSTREAM_EMBED,
                         "encoding_format": "float"}  # fmt: skip
        assert second["input"] == [[1, 2, 3], [4]] and second["encoding_format"] == "float"
        # the SDK asks for base64 unless told otherwise, and decodes it itself
        assert [d.embedding for d in default.data] == [fake_embedding(i, 6) for i in range(3)]
        assert [d.index for d in default.data] == [0, 1, 2]
        assert [d.embedding for d in floats.data] == [fake_embedding(i, 4) for i in range(2)]
        assert default.usage.prompt_tokens == default.usage.total_tokens == 3 * EMBED_TOKENS
        assert floats.usage.prompt_tokens == 2 * EMBED_TOKENS
        assert await s.balance() == FUNDS - 2 * (5 * EMBED_TOKENS)  # 5 inputs, at 2 each

        async with httpx.AsyncClient(base_url=s.running.base_url, timeout=10) as raw:
            resp = await raw.post(
                "/v1/embeddings", headers={"Authorization": f"Bearer {s.key}"},
                json={"model": EMBED, "input": "x", "encoding_format": "base64"},
            )  # fmt: skip
        assert resp.status_code == 200
        vector = fake_embedding(0, 4)
        packed = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        assert resp.json()["data"] == [{"object": "embedding", "index": 0, "embedding": packed}]


async def test_only_embedding_models_get_embeddings_and_bad_input_is_a_400() -> None:
    async with stack() as s:
        with pytest.raises(openai.BadRequestError) as caught:
            await s.openai.embeddings.create(model=MODEL, input="x")
        body: Any = caught.value.body
        assert body["code"] == "unsupported_capability" and body["param"] == "input"
        for bad, param in (
            ({"input": []}, "input"),
            ({"input": ""}, "input"),
            ({"input": [[1], "a"]}, "input"),
            ({"input": ["a"] * 2049}, "input"),
            ({"input": "a", "dimensions": 0}, "dimensions"),
            ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ):
            with pytest.raises(openai.BadRequestError) as caught:
                await s.openai.embeddings.create(model=EMBED, **bad)  # type: ignore[arg-type]
            assert caught.value.body["param"] == param  # type: ignore[index]
        assert s.calls("/v1/embeddings") == []
        assert await s.balance() == FUNDS


# ----------------------------------------------------------------- count_tokens


async def test_count_tokens_asks_the_upstream_tokenizer_and_is_never_billed() -> None:
    async with stack() as s:
        counted = await s.anthropic.messages.count_tokens(
            model=MODEL, system="be brief", messages=[{"role": "user", "content": "hello"}]
        )
        (sent,) = s.calls("/tokenize")
        assert sent["model"] == UPSTREAM_MODEL
        assert sent["messages"] == [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello"},
        ]
        assert counted.input_tokens == fake_token_count(sent["messages"])
        assert await s.balance() == FUNDS

        with pytest.raises(anthropic.NotFoundError):
            await s.anthropic.messages.count_tokens(
                model="nobody", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(anthropic.BadRequestError) as caught:
            await s.anthropic.messages.count_tokens(
                model=MODEL, messages=[{"role": "user", "content": "hi"}],
                extra_body={"max_tokens": 5},
            )  # fmt: skip
        assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


async def test_count_tokens_counts_against_the_keys_request_rate() -> None:
    async with stack() as s:
        created = await s.running.admin.post(f"/admin/accounts/{s.account}/keys", json={"rpm": 1})
        key = created.json()["key"]
        ask = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        async with anthropic.AsyncAnthropic(
            base_url=s.running.base_url, api_key=key, max_retries=0
        ) as limited:
            await limited.messages.count_tokens(**ask)  # type: ignore[arg-type]
            with pytest.raises(anthropic.RateLimitError) as caught:
                await limited.messages.count_tokens(**ask)  # type: ignore[arg-type]
        assert caught.value.response.headers["retry-after"]
        assert len(s.calls("/tokenize")) == 1


async def test_a_server_without_tokenizer_gets_the_estimate() -> None:
    async with stack(tokenizer=False) as s:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "y" * 80}]}
        for _ in range(3):
            counted = await s.anthropic.messages.count_tokens(**body)  # type: ignore[arg-type]
        request = parse_messages_request(json.dumps({**body, "max_tokens": 1}))
        assert counted.input_tokens == estimate_prompt_tokens(anthropic_to_chat(request))
        assert len(s.calls("/tokenize")) == 3  # asked each time, refused each time
        providers = await s.running.providers()
        assert len(providers) == 1 and providers[0]["routable"]  # not blamed: still in use


async def test_count_tokens_without_a_provider_is_the_documented_estimate() -> None:
    async with stack() as s:
        await s.running.admin.put("/admin/pricing/ghost", json=PRICES[MODEL])
        body = {"model": "ghost", "messages": [{"role": "user", "content": "x" * 400}]}
        counted = await s.anthropic.messages.count_tokens(**body)  # type: ignore[arg-type]
        request = parse_messages_request(json.dumps({**body, "max_tokens": 1}))
        assert counted.input_tokens == estimate_prompt_tokens(anthropic_to_chat(request))
        assert s.calls("/tokenize") == []


# ----------------------------------------------------------------- model info


async def test_model_info_in_openai_and_anthropic_shapes() -> None:
    async with stack() as s:
        info = await s.openai.models.retrieve(MODEL)
        extra: Any = info.model_extra
        assert info.id == MODEL and info.object == "model"
        assert extra["context_length"] == CONTEXT and extra["providers"] == 1
        assert extra["capabilities"]["completions"] == "yes"
        assert extra["capabilities"]["embeddings"] == "no"
        assert extra["pricing"] == PRICES[MODEL]
        embed: Any = (await s.openai.models.retrieve(EMBED)).model_extra
        assert embed["capabilities"]["embeddings"] == "yes"
        with pytest.raises(openai.NotFoundError):
            await s.openai.models.retrieve("nobody/here")

        listed = [m async for m in s.anthropic.models.list()]
        assert [(m.id, m.type, m.display_name) for m in listed] == [
            (EMBED, "model", EMBED), (MODEL, "model", MODEL)
        ]  # fmt: skip
        page = await s.anthropic.models.list(limit=1)
        assert [m.id for m in page.data] == [EMBED] and page.has_more
        assert page.last_id == EMBED
        rest = await s.anthropic.models.list(limit=1, after_id=EMBED)
        assert [m.id for m in rest.data] == [MODEL] and not rest.has_more
        one = await s.anthropic.models.retrieve(MODEL)
        assert (one.id, one.type) == (MODEL, "model")
        with pytest.raises(anthropic.NotFoundError) as caught:
            await s.anthropic.models.retrieve("nobody")
        assert caught.value.body["type"] == "error"  # type: ignore[index]
        openai_list = await s.openai.models.list()
        assert [m.id for m in openai_list.data] == [EMBED, MODEL]
