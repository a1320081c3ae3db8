"""Exact prompt counts where the estimate decides a request's output budget (issue 15, item
4): through the official openai SDK, a coordinator and a real `--backend openai` agent in
front of the recording fake upstream, whose tokenizer counts denser than the coordinator's
≈4-characters-a-token estimate and which refuses `prompt + max_tokens` beyond its
context as vLLM does. A long prompt without `max_tokens` is held for the context the
upstream's own count leaves (an account funded with exactly that is served), and near the
operator's cap the count keeps the cap from being sent where it does not fit; a short one
takes no /tokenize round trip; without a tokenizer the estimate stays."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import openai
import pytest

from switchyard.inference.job import estimate_prompt_tokens
from switchyard.metrics import REGISTRY

from ..polling import wait_until
from .fake_upstream import USAGE, fake_token_count
from .harness import fast_settings, funded_key
from .test_api_surface import CONTEXT, MODEL, Stack, stack

#: MODEL's prices (test_api_surface.PRICES) in micro-USD a token.
INPUT, OUTPUT = 1, 2


def exact_counts(result: str) -> float:
    """`switchyard_exact_prompt_counts` for `result` so far (this process's registry)."""
    value = REGISTRY.get_sample_value("switchyard_exact_prompt_counts_total", {"result": result})
    return value or 0.0


def asked(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def limited_client(s: Stack, micro_usd: int, rpm: int) -> tuple[str, openai.AsyncOpenAI]:
    """(account, a client with a key of `rpm` requests a minute on it), funded `micro_usd`."""
    account, _ = await funded_key(s.running, micro_usd)
    created = await s.running.admin.post(f"/admin/accounts/{account}/keys", json={"rpm": rpm})
    key = created.json()["key"]
    base = s.running.base_url + "/v1"
    return account, openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0)


async def balance(s: Stack, account: str) -> int:
    """`account`'s balance once no hold is open."""

    async def settled() -> int | None:
        acct = (await s.running.admin.get(f"/admin/accounts/{account}")).json()
        return None if acct["open_holds"] else int(acct["balance_micro_usd"])

    return await wait_until(settled, timeout=5)


async def test_a_long_prompt_is_held_for_what_the_exact_count_leaves() -> None:
    messages = asked("x" * 4400)
    estimate, exact = estimate_prompt_tokens({"messages": messages}), fake_token_count(messages)
    assert estimate < exact  # the fake's tokenizer counts denser than the estimate
    hold = INPUT * exact + OUTPUT * (CONTEXT - exact)
    assert INPUT * estimate + OUTPUT * (CONTEXT - estimate) > hold
    async with stack() as s:
        counted = exact_counts("counted")
        # funded with exactly the exact hold (the estimate's would be a 402), and one
        # request a minute (the internal count does not take it)
        account, client = await limited_client(s, hold, rpm=1)
        async with client:
            got = await client.chat.completions.create(model=MODEL, messages=messages)
        assert got.choices[0].message.content == "Hello world"
        (tokenized,) = s.calls("/tokenize")
        assert tokenized["messages"] == messages
        (sent,) = s.upstream.bodies
        # the hold is the upstream's own limit (context - its count): nothing is added
        assert "max_tokens" not in sent and sent["messages"] == messages
        assert exact_counts("counted") == counted + 1
        charged = INPUT * USAGE["prompt_tokens"] + OUTPUT * USAGE["completion_tokens"]
        assert await balance(s, account) == hold - charged

        # a short prompt: no round trip
        await s.openai.chat.completions.create(model=MODEL, messages=asked("hi"))
        assert len(s.calls("/tokenize")) == 1 and len(s.upstream.bodies) == 2


async def test_responses_without_max_output_tokens_are_counted_too() -> None:
    async with stack() as s:
        text = "y" * 4400
        got = await s.openai.responses.create(model=MODEL, input=text)
        assert got.output_text == "Hello world"
        (tokenized,) = s.calls("/tokenize")
        assert tokenized["messages"][-1]["content"] == text
        assert "max_tokens" not in s.upstream.bodies[0]


CAPPED = replace(fast_settings(), default_max_tokens_cap=3000)
#: Its estimate leaves more than the cap; the upstream's count does not.
NEAR_CAP = asked("z" * 3600)


async def test_near_the_cap_the_exact_count_keeps_the_upstream_from_refusing() -> None:
    exact = fake_token_count(NEAR_CAP)
    assert CONTEXT - estimate_prompt_tokens({"messages": NEAR_CAP}) > CAPPED.default_max_tokens_cap
    assert CONTEXT - exact < CAPPED.default_max_tokens_cap
    async with stack(settings=CAPPED) as s:
        got = await s.openai.chat.completions.create(model=MODEL, messages=NEAR_CAP)
        assert got.choices[0].message.content == "Hello world"
        assert len(s.calls("/tokenize")) == 1
        (sent,) = s.upstream.bodies
        assert "max_tokens" not in sent  # held: CONTEXT - exact, within the cap
        charged = INPUT * USAGE["prompt_tokens"] + OUTPUT * USAGE["completion_tokens"]
        assert await s.balance() == 10_000_000 - charged


async def test_without_a_tokenizer_the_estimate_stays() -> None:
    async with stack(tokenizer=False, settings=CAPPED) as s:
        estimated = exact_counts("estimated")
        # the failure the count prevents: the cap, sent on the estimate, does not fit
        with pytest.raises(openai.BadRequestError):
            await s.openai.chat.completions.create(model=MODEL, messages=NEAR_CAP)
        assert len(s.calls("/tokenize")) == 1  # asked, refused
        (sent,) = s.upstream.bodies
        assert sent["max_tokens"] == CAPPED.default_max_tokens_cap
        assert exact_counts("estimated") == estimated + 1
        assert await s.balance() == 10_000_000  # nothing delivered, nothing charged
        providers = await s.running.providers()
        assert len(providers) == 1 and providers[0]["routable"]
