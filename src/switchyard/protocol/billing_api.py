"""Request bodies of the billing API: Stripe Checkout purchases and admin payouts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .admin_api import MAX_MONEY

CENTS_PER_USD = 100


class CheckoutRequest(BaseModel):
    """`POST /v1/billing/checkout`: exactly one of `amount_usd` (a whole number of cents,
    e.g. 12.5) or `amount_cents`. The configured bounds are checked by the route."""

    model_config = ConfigDict(strict=True, extra="ignore")

    amount_usd: Annotated[float, Field(gt=0, le=10**9, allow_inf_nan=False)] | None = None
    amount_cents: Annotated[int, Field(gt=0, le=10**11)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CheckoutRequest:
        if (self.amount_usd is None) == (self.amount_cents is None):
            raise ValueError("give exactly one of amount_usd or amount_cents")
        if self.amount_usd is not None:
            cents = Decimal(repr(self.amount_usd)) * CENTS_PER_USD
            if cents != cents.to_integral_value():
                raise ValueError("amount_usd must be a whole number of cents")
        return self

    @property
    def cents(self) -> int:
        """The requested amount in US cents."""
        if self.amount_cents is not None:
            return self.amount_cents
        return int(Decimal(repr(self.amount_usd)) * CENTS_PER_USD)


class PayoutRequest(BaseModel):
    """`POST /admin/accounts/{id}/payout`: pay out earnings, optionally by Stripe transfer.

    `destination` is the owner's Stripe Connect account (`acct_…`); `idempotency_key`
    makes retries safe (one is generated when absent) and is shared with the transfer.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    amount_micro_usd: Annotated[int, Field(gt=0, le=MAX_MONEY)]
    destination: Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,100}$")] | None = (
        None
    )
    idempotency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[ -~]+$")] | None
    ) = None
