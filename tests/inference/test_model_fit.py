"""A request against its model's context length and capabilities (issue 14, items 5, 6).

Before anything is held: a capability every provider lacks is a 400 naming it, and
`max_tokens` beyond the largest context is a 400. Without `max_tokens`, money and
rate-limit tokens are held for the model's remaining context (at most the operator's
cap), and the upstream is sent `max_tokens` only when the cap requires it.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from switchyard.actors.billing_messages import Hold
from switchyard.actors.provider_messages import Dispatch
from switchyard.actors.scheduler_messages import ModelProfile, Reserve
from switchyard.inference.capabilities import required_capabilities
from switchyard.inference.context_length import wants_exact_count, with_max_tokens
from switchyard.inference.job import Job
from switchyard.inference.ratelimit import RateLimiter
from switchyard.inference.request import ConsumerRequest
from switchyard.protocol.errors import ApiError
from switchyard.protocol.vocabulary import Capability, RequestKind, Support
from switchyard.settings import Settings

from .fakes import FakeProvider, FakeScheduler, FakeServices, api_key, chunk, done, job
from .test_consumer_request import drain, tpm_left

pytestmark = pytest.mark.usefixtures("mock_clock")

TOOLS, VISION = Capability.TOOLS, Capability.VISION
JSON_SCHEMA, REASONING = Capability.JSON_SCHEMA, Capability.REASONING


def profile(context: int | None = None, bounded: bool = True, **support: Support) -> ModelProfile:
    caps = {c: support.get(c.value, Support.UNKNOWN) for c in Capability}
    return ModelProfile(1, context, bounded and context is not None, caps)


async def run(services: FakeServices, the_job: Job) -> None:
    req = ConsumerRequest(services, api_key(), the_job, route="/v1/chat/completions", stream=True)
    async with req:
        await drain(req)


def scheduler(prof: ModelProfile, context: int | None = None) -> FakeScheduler:
    provider = FakeProvider("prov-a", [chunk("hi"), done(5, 1)])
    return FakeScheduler(provider, profile=prof, context_length=context)


def sent(sched: FakeScheduler) -> dict:
    """The body the one dispatched attempt carried to its provider."""
    [dispatch] = [m for m in sched.providers[0].asked if isinstance(m, Dispatch)]
    return json.loads(dispatch.body_json)


@pytest.mark.parametrize(
    ("body", "needs"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, set()),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, {TOOLS}),
        ({"tools": []}, set()),
        ({"functions": [{"name": "f"}]}, {TOOLS}),
        (
            {"messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ]}]},
            {VISION},
        ),
        (  # Anthropic: an image inside a tool_result block
            {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": [
                {"type": "image", "source": {"type": "base64", "data": "AA=="}}]}]}]},
            {VISION},
        ),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, {JSON_SCHEMA}),
        ({"response_format": {"type": "json_object"}}, set()),
        ({"reasoning_effort": "high"}, {REASONING}),
        ({"reasoning_effort": "none"}, set()),
        ({"reasoning": {"effort": "low"}}, {REASONING}),
        ({"reasoning": {"enabled": False}}, set()),
        ({"chat_template_kwargs": {"enable_thinking": True}}, {REASONING}),
        ({"chat_template_kwargs": {"enable_thinking": False}}, set()),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, {REASONING}),
        ({"thinking": {"type": "disabled"}}, set()),
        ({"messages": "not a list", "tools": "nor this", "response_format": 3}, set()),
    ],
)  # fmt: skip
def test_required_capabilities_are_read_from_the_body(body: dict, needs: set) -> None:
    assert required_capabilities(body) == needs


def test_max_tokens_is_added_to_a_serialized_body() -> None:
    assert json.loads(with_max_tokens('{"messages":[]}', 7)) == {"max_tokens": 7, "messages": []}
    assert json.loads(with_max_tokens("{}", 7)) == {"max_tokens": 7}


async def test_a_capability_every_provider_lacks_is_400_before_anything_is_held() -> None:
    sched = scheduler(profile(8192, tools=Support.NO, vision=Support.NO))
    services = FakeServices(sched, limiter=RateLimiter(None, 1000))
    with pytest.raises(ApiError) as caught:
        await run(services, job(needs=frozenset({VISION, JSON_SCHEMA})))
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "unsupported_capability", "messages")
    assert "vision" in error.message and "json_schema" not in error.message
    assert services.billing.asked == [] and services.billing.settles == []
    assert not any(isinstance(m, Reserve) for m in sched.asked)
    assert services.gate.active == 0 and tpm_left(services.limiter, 1000) == 1000


async def test_a_capability_someone_may_have_is_routed_with_the_request() -> None:
    sched = scheduler(profile(8192, tools=Support.NO, json_schema=Support.YES))
    await run(FakeServices(sched), job(needs=frozenset({JSON_SCHEMA, REASONING})))
    [reserve] = [m for m in sched.asked if isinstance(m, Reserve)]
    assert reserve.needs == {JSON_SCHEMA, REASONING}


async def test_max_tokens_beyond_the_context_is_400_before_anything_is_held() -> None:
    sched = scheduler(profile(4096))
    services = FakeServices(sched, limiter=RateLimiter(None, 100_000))
    with pytest.raises(ApiError) as caught:
        await run(services, job(max_tokens=5000))
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "context_length_exceeded", "max_tokens")
    assert "4096" in error.message
    assert services.billing.asked == [] and services.gate.active == 0
    assert tpm_left(services.limiter, 100_000) == 100_000


async def test_max_tokens_is_checked_only_against_reported_contexts() -> None:
    # one provider reported 4096, another nothing: it may serve 5000, so route there
    sched = scheduler(profile(4096, bounded=False))
    await run(FakeServices(sched), job(max_tokens=5000))
    [reserve] = [m for m in sched.asked if isinstance(m, Reserve)]
    assert (reserve.min_context, reserve.max_tokens) == (5000, 5000)
    assert sent(sched)["max_tokens"] == 5000


async def test_without_max_tokens_the_remaining_context_is_held_and_nothing_sent() -> None:
    sched = scheduler(profile(8192), context=8192)
    services = FakeServices(sched)
    the_job = job(max_tokens=None)
    await run(services, the_job)
    [hold] = services.billing.of_asked(Hold)
    assert hold.max_tokens == 8192 - the_job.prompt_tokens
    [reserve] = [m for m in sched.asked if isinstance(m, Reserve)]
    assert (reserve.max_tokens, reserve.min_context) == (hold.max_tokens, 0)
    assert "max_tokens" not in sent(sched)


async def test_the_operator_cap_limits_the_hold_and_then_is_sent() -> None:
    settings = Settings(default_max_tokens_cap=1000)
    sched = scheduler(profile(131072), context=131072)
    services = FakeServices(sched)
    await run(services, job(max_tokens=None, settings=settings))
    [hold] = services.billing.of_asked(Hold)
    assert hold.max_tokens == 1000
    assert sent(sched)["max_tokens"] == 1000


async def test_a_smaller_provider_is_sent_nothing_its_context_cannot_hold() -> None:
    # the model's largest context is over the cap, but this provider's remaining context
    # is within what was held: it needs no max_tokens
    settings = Settings(default_max_tokens_cap=10_000)
    sched = scheduler(profile(131072), context=8192)
    await run(FakeServices(sched), job(max_tokens=None, settings=settings))
    assert "max_tokens" not in sent(sched)


async def test_an_unknown_context_holds_the_cap_and_sends_it() -> None:
    settings = Settings(default_max_tokens_cap=2048)
    sched = scheduler(profile(None))
    services = FakeServices(sched)
    await run(services, job(max_tokens=None, settings=settings))
    [hold] = services.billing.of_asked(Hold)
    assert hold.max_tokens == 2048
    assert sent(sched)["max_tokens"] == 2048


@pytest.mark.parametrize(
    ("context", "cap", "chars", "requested", "wanted"),
    [
        (4096, 32768, 40, None, False),  # a short prompt: the hold is hardly changed
        (4096, 32768, 2000, None, False),  # ~500 estimated: at most half the context
        (4096, 32768, 2100, None, True),  # past it: the error is a large share of the hold
        (4096, 32768, 2100, 100, False),  # the consumer's max_tokens: nothing to decide
        (131072, 32768, 40_000, None, False),  # ~10,000: the cap is held, and fits
        (131072, 32768, 120_000, None, True),  # ~30,000: the cap fits only the estimate
        (131072, 32768, 500_000, None, True),  # ~125,000: near the context
        (None, 32768, 500_000, None, False),  # unbounded: the cap is held and sent anyway
    ],
)  # fmt: skip
async def test_an_exact_count_is_wanted_only_where_the_estimate_decides_the_hold(
    context: int | None, cap: int, chars: int, requested: int | None, wanted: bool
) -> None:
    the_job = job("x" * chars, max_tokens=requested, settings=Settings(default_max_tokens_cap=cap))
    assert wants_exact_count(the_job, profile(context)) is wanted
    completion = replace(the_job, kind=RequestKind.COMPLETION)
    assert not wants_exact_count(completion, profile(context))
