"""Issue #15 against llama-server: a native completion with `suffix` and a token count,
each compared with what llama-server answers directly, a prompt near the context without
`max_tokens` (counted by llama-server's tokenizer first, then served as llama-server
serves it), and the capabilities the agent probed (completions yes; embeddings no: the
server runs without `--embeddings`)."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from switchyard.metrics import REGISTRY

from ..integration.harness import no_slots_reserved
from ..polling import wait_until
from .stack import MODEL, LlamaServer, Stack
from .test_llama_chat import GREEDY, ask, direct_client, switchyard_client, user

pytestmark = pytest.mark.backends


async def test_a_completion_with_suffix_is_the_one_llama_server_gives(
    llama_server: LlamaServer, stack: Stack
) -> None:
    ask = {"model": MODEL, "prompt": "def add(a, b):\n", "suffix": "\n    return c", **GREEDY}
    async with direct_client(llama_server) as direct, switchyard_client(stack) as relayed:
        want = await direct.completions.create(**ask)
        got = await relayed.completions.create(**ask)
        streamed = await relayed.completions.create(**ask, stream=True)
        pieces = [chunk.choices[0].text async for chunk in streamed if chunk.choices]
    assert got.choices[0].text == want.choices[0].text == "".join(pieces)
    assert got.choices[0].finish_reason == want.choices[0].finish_reason
    assert got.usage is not None and want.usage is not None
    assert (got.usage.prompt_tokens, got.usage.completion_tokens) == (
        want.usage.prompt_tokens, want.usage.completion_tokens
    )  # fmt: skip
    await wait_until(lambda: no_slots_reserved(stack.running))


async def test_count_tokens_is_llama_servers_own_prompt_count(
    llama_server: LlamaServer, stack: Stack
) -> None:
    messages = user("Count the tokens of this sentence, please.")
    async with direct_client(llama_server) as direct:
        chat = await direct.chat.completions.create(model=MODEL, messages=messages, **GREEDY)
    async with anthropic.AsyncAnthropic(
        base_url=stack.running.base_url, api_key=stack.api_key, max_retries=0
    ) as client:
        counted = await client.messages.count_tokens(model=MODEL, messages=messages)
    assert chat.usage is not None and counted.input_tokens == chat.usage.prompt_tokens


async def test_a_prompt_near_the_context_without_max_tokens_is_counted_and_served(
    llama_server: LlamaServer, stack: Stack
) -> None:
    def counted() -> float:
        name = "switchyard_exact_prompt_counts_total"
        return REGISTRY.get_sample_value(name, {"result": "counted"}) or 0.0

    # "x " is 2 tokens here: ~60% of the context, ~15% by the estimate
    prompt = "x " * (llama_server.n_ctx * 3 // 10)
    before = counted()
    expected = await ask(direct_client(llama_server), MODEL, prompt, temperature=0)
    got = await ask(switchyard_client(stack), MODEL, prompt, temperature=0)
    assert got == expected
    assert got.prompt_tokens is not None and got.completion_tokens is not None
    assert got.prompt_tokens + got.completion_tokens <= llama_server.n_ctx
    assert counted() == before + 1  # llama-server's tokenizer counted it first
    await wait_until(lambda: no_slots_reserved(stack.running))


async def test_the_agent_probed_completions_and_no_embeddings(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    async with httpx.AsyncClient(base_url=stack.running.base_url, timeout=10) as http:
        info = (await http.get(f"/v1/models/{MODEL}", headers=headers)).json()
        refused = await http.post(
            "/v1/embeddings", headers=headers, json={"model": MODEL, "input": "x"}
        )
    assert info["capabilities"]["completions"] == "yes"
    assert info["capabilities"]["embeddings"] == "no"
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unsupported_capability"
