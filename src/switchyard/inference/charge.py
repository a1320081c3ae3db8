"""Charge: the money side of one consumer request — hold before, settle after.

The hold is placed before any provider is touched (so an unfunded account gets 402 and
costs nobody anything). `settle` tells the billing actor what happened — the provider's
usage report if one came, the relayed token count always. Output the consumer never
received is not charged: a request whose output was not delivered (a non-stream request
that failed or was abandoned before its body was produced) reports nothing used, so its
hold is released. `ConsumerRequest` calls `settle` exactly once, on every exit path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..actors.billing_messages import BillingUnavailable, Hold, InsufficientCredit, Settle
from ..billing.pricing import FREE
from ..protocol.errors import insufficient_credit, service_unavailable
from ..protocol.vocabulary import ApiErrorCode
from ..runtime import ActorRef, ActorStopped, AskTimeout
from ..storage.models import ApiKeyRecord
from .job import Job
from .output import Result

HOLD_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Charge:
    """One request's hold and its settlement (see the module docstring)."""

    billing: ActorRef
    request_id: str
    key: ApiKeyRecord
    job: Job
    amount_micro_usd: int
    priced: bool  # the model has a price (so it is a model we know of)

    @classmethod
    async def hold(cls, billing: ActorRef, key: ApiKeyRecord, job: Job) -> Charge:
        """Hold the request's maximum cost; ApiError 402 when the balance cannot cover it."""
        request_id = "bill_" + secrets.token_hex(12)
        hold = Hold(request_id, key.account_id, job.model, job.prompt_tokens, job.max_output_tokens)
        try:
            granted = await billing.ask(hold, timeout=HOLD_TIMEOUT_S)
        except InsufficientCredit as exc:
            raise insufficient_credit(
                f"Your balance does not cover this request's maximum cost ({exc}). "
                "Lower max_tokens or add credit."
            ) from None
        except (BillingUnavailable, AskTimeout, ActorStopped):
            unavailable = ApiErrorCode.BILLING_UNAVAILABLE
            raise service_unavailable(
                "Billing is unavailable; try again.", unavailable, retry_after=1
            ) from None
        return cls(billing, request_id, key, job, granted.amount_micro_usd, granted.price != FREE)

    def settlement(self, result: Result, delivered: bool) -> Settle:
        """The `Settle` message for `result`; nothing used unless the output was delivered."""
        end = result.end
        reported = end if delivered and end is not None and end.ok else None
        if reported is not None and reported.completion_tokens is None:
            reported = None
        return Settle(
            request_id=self.request_id,
            account_id=self.key.account_id,
            api_key_id=self.key.id,
            model=self.job.model,
            provider_id=result.provider_id,
            prompt_tokens_est=self.job.prompt_tokens,
            relayed_tokens=result.relayed_tokens if delivered else 0,
            reported_prompt_tokens=reported.prompt_tokens if reported is not None else None,
            reported_completion_tokens=reported.completion_tokens if reported is not None else None,
            outcome=result.outcome,
            ttft_ms=round(result.ttft_s * 1000) if result.ttft_s is not None else None,
            duration_ms=round(result.duration_s * 1000),
        )

    async def settle(self, result: Result, delivered: bool) -> None:
        """Send the settlement; a full mailbox is waited on, never left with the hold open."""
        await self.billing.tell_or_send(self.settlement(result, delivered), timeout=10)
