"""Charge with a fake billing ref: how a hold is refused, and what a settlement says."""

from __future__ import annotations

import pytest

from switchyard.actors.billing_messages import BillingUnavailable, Hold, InsufficientCredit
from switchyard.actors.provider_messages import StreamEnd
from switchyard.billing.pricing import Price, hold_amount
from switchyard.inference.charge import Charge
from switchyard.inference.output import Result, Usage
from switchyard.protocol.errors import ApiError
from switchyard.runtime import AskTimeout

from .fakes import FakeBilling, api_key, job


def result(end: StreamEnd | None, relayed: int = 4, outcome: str = "ok") -> Result:
    return Result(
        outcome=outcome, usage=Usage(7, relayed), relayed_tokens=relayed, end=end,
        provider_id="prov-a", attempts=1, ttft_s=0.0125, duration_s=1.2344,
    )  # fmt: skip


async def test_a_granted_hold_is_for_the_most_the_request_may_cost() -> None:
    billing = FakeBilling(Price(1_000_000, 2_000_000))
    the_job = job(max_tokens=10)
    charge = await Charge.hold(billing, api_key(), the_job)
    [hold] = billing.asked
    assert isinstance(hold, Hold) and hold.request_id == charge.request_id
    assert (hold.account_id, hold.model, hold.max_tokens) == ("acct_1", "m", 10)
    expected = hold_amount(Price(1_000_000, 2_000_000), the_job.prompt_tokens, 10)
    assert (charge.amount_micro_usd, charge.priced) == (expected, True)
    assert not (await Charge.hold(FakeBilling(), api_key(), the_job)).priced


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (InsufficientCredit("short"), 402),
        (BillingUnavailable("store down"), 503),
        (AskTimeout("/root/billing", 10), 503),
    ],
)
async def test_a_refused_hold_is_a_typed_answer(refusal: BaseException, status: int) -> None:
    billing = FakeBilling(refusal=refusal)
    with pytest.raises(ApiError) as caught:
        await Charge.hold(billing, api_key(), job())
    assert caught.value.status == status


async def test_a_delivered_report_is_passed_on_and_an_undelivered_one_is_not() -> None:
    billing = FakeBilling()
    charge = await Charge.hold(billing, api_key(), job())
    report = StreamEnd(finish_reason="stop", prompt_tokens=7, completion_tokens=4)
    sent = charge.settlement(result(report), delivered=True)
    assert (sent.relayed_tokens, sent.reported_prompt_tokens, sent.reported_completion_tokens) == (
        4, 7, 4,
    )  # fmt: skip
    assert (sent.ttft_ms, sent.duration_ms, sent.provider_id) == (12, 1234, "prov-a")
    assert (sent.account_id, sent.api_key_id, sent.request_id) == (
        "acct_1", "key_1", charge.request_id,
    )  # fmt: skip
    kept = charge.settlement(result(report), delivered=False)
    assert (kept.relayed_tokens, kept.reported_completion_tokens) == (0, None)
    await charge.settle(result(report), delivered=True)
    assert billing.settles == [sent]


@pytest.mark.parametrize(
    "end",
    [
        None,  # the stream never ended (client left)
        StreamEnd(error_code="backend_error"),  # a failure's numbers are not a usage report
        StreamEnd(finish_reason="stop"),  # an end without a report
    ],
)
async def test_without_a_usage_report_only_the_relayed_count_is_sent(
    end: StreamEnd | None,
) -> None:
    charge = await Charge.hold(FakeBilling(), api_key(), job())
    sent = charge.settlement(result(end, outcome="x"), delivered=True)
    assert (sent.relayed_tokens, sent.outcome) == (4, "x")
    assert (sent.reported_prompt_tokens, sent.reported_completion_tokens) == (None, None)
