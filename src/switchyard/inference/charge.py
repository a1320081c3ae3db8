"""Charge: the money side of one consumer request — hold before, settle after, once.

The hold is placed before any provider is touched (so an unfunded account gets 402 and
costs nobody anything). `close` tells the billing actor what happened — the provider's
usage report if one came, the relayed token count always — exactly once, whatever way
the request ended. Output the consumer never received is not charged: a request whose
caller marked it undelivered (a non-stream request that failed or was abandoned before
its body was produced) reports nothing used, so its hold is released.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from ..actors.billing_messages import BillingUnavailable, Hold, InsufficientCredit, Settle
from ..billing.pricing import FREE
from ..protocol.errors import insufficient_credit, service_unavailable
from ..protocol.vocabulary import ApiErrorCode, Outcome
from ..runtime import ActorRef, ActorStopped, AskTimeout
from ..storage.models import ApiKeyRecord
from .relay import Job, RelaySession


@dataclass
class Charge:
    """One request's hold and its settlement (see the module docstring)."""

    billing: ActorRef
    request_id: str
    key: ApiKeyRecord
    job: Job
    amount_micro_usd: int
    priced: bool = False  # the model has a price (so it is a model we know of)
    outcome: str | None = None  # set by the caller when the request failed with an error
    #: False while the consumer has received none of the output (a non-stream request
    #: until its body is produced): closing then charges nothing and releases the hold.
    delivered: bool = True
    closed: bool = False
    opened: float = field(default_factory=time.monotonic)

    @classmethod
    async def open(cls, billing: ActorRef, key: ApiKeyRecord, job: Job) -> Charge:
        """Hold the request's maximum cost; ApiError 402 when the balance cannot cover it."""
        request_id = "bill_" + secrets.token_hex(12)
        hold = Hold(request_id, key.account_id, job.model, job.prompt_tokens, job.body.max_tokens)
        try:
            granted = await billing.ask(hold, timeout=10)
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

    async def close(self, session: RelaySession) -> None:
        """Settle (or release) the hold from what the session saw; only the first call acts."""
        if self.closed:
            return
        self.closed = True
        end = session.end
        reported = (
            self.delivered and end is not None and end.ok and end.completion_tokens is not None
        )
        if self.outcome is not None:
            outcome = self.outcome
        elif end is None:
            outcome = Outcome.CANCELLED
        else:
            outcome = Outcome.OK if end.ok else (end.error_code or Outcome.ERROR)
        settle = Settle(
            request_id=self.request_id,
            account_id=self.key.account_id,
            api_key_id=self.key.id,
            model=self.job.model,
            provider_id=session.provider_id,
            prompt_tokens_est=self.job.prompt_tokens,
            relayed_tokens=session.relayed_tokens if self.delivered else 0,
            reported_prompt_tokens=end.prompt_tokens if reported and end else None,
            reported_completion_tokens=end.completion_tokens if reported and end else None,
            outcome=outcome,
            ttft_ms=round(session.ttft_s * 1000) if session.ttft_s is not None else None,
            duration_ms=round((time.monotonic() - self.opened) * 1000),
        )
        await self.billing.tell_or_send(settle, timeout=10)  # full: wait, not leave the hold open
