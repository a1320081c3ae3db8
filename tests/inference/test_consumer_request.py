"""ConsumerRequest with fake refs: admission order, output, and one finish on every exit.

The clock is `mock_clock` (it never moves by itself), so rate-limit buckets do not refill
between the steps and their levels can be checked exactly.
"""

from __future__ import annotations

import pytest
import trio

from switchyard.actors.billing_messages import InsufficientCredit
from switchyard.actors.provider_messages import StreamChunk, StreamEnd
from switchyard.actors.scheduler_messages import NoCapacityReason, Reserve
from switchyard.billing.pricing import Price
from switchyard.inference.job import Job
from switchyard.inference.output import Output
from switchyard.inference.ratelimit import RateLimiter
from switchyard.inference.request import ConsumerRequest
from switchyard.protocol.chat import delta_texts
from switchyard.protocol.errors import ApiError
from switchyard.storage.models import KeyLimits

from .fakes import (
    FakeBilling,
    FakeProvider,
    FakeScheduler,
    FakeServices,
    api_key,
    chunk,
    done,
    job,
)

pytestmark = pytest.mark.usefixtures("mock_clock")


def request(services: FakeServices, the_job: Job, stream: bool = True) -> ConsumerRequest:
    route = "/v1/chat/completions"
    return ConsumerRequest(services, api_key(), the_job, route=route, stream=stream)


async def drain(req: ConsumerRequest) -> list[Output]:
    outputs = [await req.next_output()]
    while outputs[-1].final is None:
        outputs.append(await req.next_output())
    return outputs


def contents(out: Output) -> list[str]:
    """The content pieces of choice 0 in a batch of output."""
    return delta_texts(out.deltas)


def tpm_left(limiter: RateLimiter, capacity: int) -> int:
    """The tokens the key may still use now: the largest amount admitted (then given back)."""
    limits, now, key_id = KeyLimits(tpm=capacity), trio.current_time(), api_key().id
    for tokens in range(capacity, -1, -1):
        if limiter.admit(key_id, limits, tokens, now) is None:
            limiter.refund(key_id, tokens)
            return tokens
    raise AssertionError("unreachable")


async def test_a_stream_hands_out_its_text_then_releases_settles_and_refunds_once() -> None:
    provider = FakeProvider("prov-a", [chunk("Hel", "lo"), chunk(" world"), done(5, 3)])
    services = FakeServices(FakeScheduler(provider), limiter=RateLimiter(None, 1000))
    the_job = job()
    req = request(services, the_job)
    async with req:
        assert services.gate.active == 1
        outputs = await drain(req)
    texts = [t for out in outputs for t in contents(out)]
    assert texts == ["Hel", "lo", " world"]
    final = outputs[-1].final
    assert final is not None and final.error is None
    assert (final.finish_reason, final.usage.prompt_tokens, final.usage.completion_tokens) == (
        "stop", 5, 3,
    )  # fmt: skip
    assert services.gate.active == 0
    [release] = services.scheduler.releases
    assert (release.outcome, release.tokens) == ("ok", 3)
    [settle] = services.billing.settles
    assert (settle.outcome, settle.relayed_tokens, settle.provider_id) == ("ok", 3, "prov-a")
    assert (settle.reported_prompt_tokens, settle.reported_completion_tokens) == (5, 3)
    assert settle.prompt_tokens_est == the_job.prompt_tokens and settle.api_key_id == "key_1"
    assert provider.cancels == []  # the stream ended by itself: nothing to cancel
    assert req.result is not None and req.result.outcome == "ok"
    assert tpm_left(services.limiter, 1000) == 1000 - (5 + 3)  # the unused rest came back
    await req.__aexit__(None, None, None)  # leaving again changes nothing
    assert len(services.billing.settles) == 1 and len(services.scheduler.releases) == 1
    assert services.gate.active == 0


async def test_a_closed_gate_answers_503_before_anything_is_taken() -> None:
    services = FakeServices(FakeScheduler(FakeProvider("prov-a", [done()])))
    services.gate.accepting = False
    with pytest.raises(ApiError) as caught:
        async with request(services, job()):
            pytest.fail("admitted while shutting down")
    assert (caught.value.status, caught.value.code) == (503, "shutting_down")
    assert services.billing.asked == [] and services.scheduler.asked == []
    assert services.gate.active == 0


async def test_a_rate_limited_request_never_asks_for_money() -> None:
    services = FakeServices(FakeScheduler(), limiter=RateLimiter(None, 10))
    with pytest.raises(ApiError) as caught:
        async with request(services, job(max_tokens=100)):
            pytest.fail("admitted beyond the key's tokens per minute")
    assert caught.value.status == 429
    assert services.billing.asked == [] and services.gate.active == 0


async def test_an_unfunded_request_is_402_and_gives_back_its_rate_limit_tokens() -> None:
    billing = FakeBilling(refusal=InsufficientCredit("too poor"))
    services = FakeServices(FakeScheduler(), billing, limiter=RateLimiter(None, 1000))
    with pytest.raises(ApiError) as caught:
        async with request(services, job()):
            pytest.fail("admitted without a hold")
    assert caught.value.status == 402
    assert not any(isinstance(m, Reserve) for m in services.scheduler.asked)
    assert billing.settles == []
    assert services.gate.active == 0
    assert tpm_left(services.limiter, 1000) == 1000


@pytest.mark.parametrize(
    ("reason", "price", "status"),
    [
        (NoCapacityReason.UNKNOWN_MODEL, Price(0, 0), 404),
        (NoCapacityReason.UNKNOWN_MODEL, Price(1, 1), 503),  # priced: a model we know
        (NoCapacityReason.OFFLINE, Price(0, 0), 503),
    ],
)
async def test_no_slot_after_the_hold_releases_the_hold(
    reason: NoCapacityReason, price: Price, status: int
) -> None:
    services = FakeServices(FakeScheduler(refusal=reason), FakeBilling(price))
    with pytest.raises(ApiError) as caught:
        async with request(services, job()):
            pytest.fail("entered without a slot")
    assert caught.value.status == status
    [settle] = services.billing.settles
    assert (settle.outcome, settle.relayed_tokens) == (f"http_{status}", 0)
    assert settle.reported_completion_tokens is None  # nothing used: the hold is released
    assert services.scheduler.releases == [] and services.gate.active == 0


async def test_text_after_a_stop_sequence_in_the_same_batch_is_never_shown() -> None:
    provider = FakeProvider("prov-a", [chunk("ab ST", "OP cd"), chunk("ef")])  # no end yet
    services = FakeServices(FakeScheduler(provider))
    req = request(services, job(stop=["STOP"]))
    async with req:
        [out] = await drain(req)
    assert contents(out) == ["ab "]
    assert out.final is not None
    assert (out.final.finish_reason, out.final.stop_sequence) == ("stop", "STOP")
    assert len(provider.cancels) == 1  # the provider stops generating
    [release] = services.scheduler.releases
    assert release.outcome == "cancelled"
    [settle] = services.billing.settles
    assert settle.relayed_tokens == 3  # all that was relayed to us, as before


async def test_a_whole_answer_whose_provider_fails_after_tokens_costs_nothing() -> None:
    failure = StreamEnd(error_code="backend_error", error_message="it broke")
    provider = FakeProvider("prov-a", [chunk("a"), failure])
    services = FakeServices(FakeScheduler(provider))
    with pytest.raises(ApiError) as caught:
        async with request(services, job(), stream=False) as req:
            await req.collect()
    assert (caught.value.status, caught.value.code) == (502, "provider_error")
    [settle] = services.billing.settles
    assert (settle.outcome, settle.relayed_tokens) == ("http_502", 0)


async def test_a_stream_whose_provider_fails_after_tokens_ends_with_the_error() -> None:
    failure = StreamEnd(error_code="backend_error", error_message="it broke")
    provider = FakeProvider("prov-a", [chunk("a"), failure])
    services = FakeServices(FakeScheduler(provider))
    async with request(services, job()) as req:
        [out] = await drain(req)
    assert contents(out) == ["a"]
    assert out.final is not None and out.final.error is not None
    assert out.final.error.status == 502
    [settle] = services.billing.settles
    assert (settle.outcome, settle.relayed_tokens) == ("backend_error", 1)  # it was delivered


async def test_leaving_mid_stream_cancels_the_work_and_charges_what_was_relayed() -> None:
    provider = FakeProvider("prov-a", [chunk("a", "b")])  # then nothing: the client leaves
    services = FakeServices(FakeScheduler(provider))
    with trio.CancelScope() as scope:
        async with request(services, job()) as req:
            assert contents(await req.next_output()) == ["a", "b"]
            scope.cancel()
            await req.next_output()
    assert scope.cancelled_caught
    [cancel] = provider.cancels
    [release] = services.scheduler.releases
    assert release.outcome == "cancelled"
    [settle] = services.billing.settles
    assert (settle.outcome, settle.relayed_tokens) == ("cancelled", 2)
    assert services.gate.active == 0 and cancel.request_id.startswith("req_")


async def test_a_stream_ended_for_a_slow_reader_says_so() -> None:
    provider = FakeProvider("prov-a", [chunk("a")])
    services = FakeServices(FakeScheduler(provider))
    async with request(services, job()) as req:
        await req.next_output()
        req.too_slow()
    [settle] = services.billing.settles
    assert settle.outcome == "consumer_too_slow"
    assert req.result is not None and req.result.outcome == "consumer_too_slow"


async def test_a_failure_before_the_first_token_moves_to_another_provider() -> None:
    first = FakeProvider("prov-a", [StreamEnd(error_code="oom", retryable=True)])
    second = FakeProvider("prov-b", [chunk("hi"), done(5, 1)])
    services = FakeServices(FakeScheduler(first, second))
    async with request(services, job(), stream=False) as req:
        choices, final = await req.collect()
    assert (choices.choices[0].text, final.finish_reason) == ("hi", "stop")
    assert [r.outcome for r in services.scheduler.releases] == ["error", "ok"]
    assert req.result is not None
    assert (req.result.attempts, req.result.provider_id) == (2, "prov-b")
    [settle] = services.billing.settles
    assert (settle.provider_id, settle.relayed_tokens, settle.outcome) == ("prov-b", 1, "ok")


async def test_an_upstream_refusal_is_answered_with_its_status_and_never_retried() -> None:
    refusal = StreamEnd(
        error_code="upstream_rejected", error_message="context too long", status=400
    )
    first = FakeProvider("prov-a", [refusal])
    second = FakeProvider("prov-b", [chunk("hi"), done(5, 1)])
    services = FakeServices(FakeScheduler(first, second))
    for stream in (True, False):
        with pytest.raises(ApiError) as caught:
            async with request(services, job(), stream=stream) as req:
                await req.next_output()
        assert (caught.value.status, caught.value.message) == (400, "context too long")
        assert caught.value.code == "upstream_rejected"
    assert second.streams == []
    assert [r.outcome for r in services.scheduler.releases] == ["rejected", "rejected"]
    assert [s.outcome for s in services.billing.settles] == ["http_400", "http_400"]
    assert all(s.relayed_tokens == 0 for s in services.billing.settles)


async def test_a_stream_that_fails_before_its_first_token_is_an_http_error() -> None:
    role_only = StreamChunk([{"role": "assistant"}], tokens=0)
    failure = StreamEnd(error_code="upstream_error", error_message="engine died")
    provider = FakeProvider("prov-a", [role_only, failure])
    services = FakeServices(FakeScheduler(provider))
    with pytest.raises(ApiError) as caught:
        async with request(services, job()) as req:
            await drain(req)
    assert (caught.value.status, caught.value.code) == (502, "provider_error")
    [settle] = services.billing.settles
    assert (settle.outcome, settle.relayed_tokens) == ("http_502", 0)


async def test_structured_output_per_choice_and_stop_sequences_on_content() -> None:
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}
    deltas = [
        {"role": "assistant"},
        {"reasoning_content": "hm"},
        {"content": "ab", "logprobs": {"content": []}},
        {"index": 1, "content": "xySTOPzz"},
        {"index": 1, "content": "more"},
        {"content": "cST"},
        {"tool_calls": [call]},
        {"index": 1, "finish_reason": "length"},
        {"index": 5, "content": "not asked for"},
        {"content": "OPtail"},
    ]
    provider = FakeProvider("prov-a", [StreamChunk(deltas, tokens=5)])  # no end yet
    services = FakeServices(FakeScheduler(provider))
    async with request(services, job(stop=["STOP"], n=2)) as req:
        outputs = await drain(req)
    shown = [d for out in outputs for d in out.deltas]
    assert shown == [
        {"reasoning_content": "hm"},
        {"content": "ab", "logprobs": {"content": []}},
        {"index": 1, "content": "xy"},
        {"content": "c"},
        {"tool_calls": [call]},
    ]
    final = outputs[-1].final
    assert final is not None
    assert final.finish_reasons == ("stop", "stop")  # both choices ended on the sequence
    assert final.stop_sequence == "STOP"
    [cancel] = provider.cancels  # every choice stopped: the provider's work is cancelled
    assert cancel.request_id.startswith("req_")


async def test_n_choices_hold_money_for_every_choice() -> None:
    services = FakeServices(FakeScheduler(FakeProvider("prov-a", [chunk("a"), done(5, 1)])))
    the_job = job(max_tokens=100, n=3)
    assert the_job.max_output_tokens == 300
    async with request(services, the_job, stream=False) as req:
        choices, final = await req.collect()
    assert [c.text for c in choices.choices] == ["a", "", ""]
    assert final.finish_reasons == ("stop", "stop", "stop")
    [hold] = services.billing.asked
    assert hold.max_tokens == 300
