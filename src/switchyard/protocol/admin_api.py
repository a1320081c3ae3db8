"""Request bodies of the admin API (README, "Operating"; paths and field names are fixed)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_MONEY = 10**15  # one billion dollars in micro-USD: far beyond any sane single move


class AdminBody(BaseModel):
    """Strict admin bodies: wrong types and unknown fields (a typo) are 400s naming them."""

    model_config = ConfigDict(strict=True, extra="forbid")


class CreateAccount(AdminBody):
    name: Name


Limit = Annotated[int, Field(ge=1, le=10**9)]


class KeyLimitsBody(AdminBody):
    """Per-key rate limits; null (or absent) means the coordinator's default."""

    rpm: Limit | None = None
    tpm: Limit | None = None


class CreateKey(KeyLimitsBody):
    name: Name = "default"


class CreditAccount(AdminBody):
    amount_micro_usd: Annotated[int, Field(ge=-MAX_MONEY, le=MAX_MONEY)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class CreateProviderToken(AdminBody):
    account_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Name = "default"


class SetPricing(AdminBody):
    input_micro_usd_per_mtok: Annotated[int, Field(ge=0, le=MAX_MONEY)]
    output_micro_usd_per_mtok: Annotated[int, Field(ge=0, le=MAX_MONEY)]
    context_length: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
