"""Messages of the BillingActor: holds before dispatch, settlement after."""

from __future__ import annotations

from dataclasses import dataclass

from ..billing.pricing import Price
from ..runtime import Refusal


@dataclass(frozen=True, slots=True)
class Hold:
    """Reserve the request's maximum cost on `account_id` (ask → HoldGranted)."""

    request_id: str
    account_id: str
    model: str
    prompt_tokens: int
    max_tokens: int


@dataclass(frozen=True, slots=True)
class HoldGranted:
    request_id: str
    amount_micro_usd: int
    price: Price


class InsufficientCredit(Refusal):
    """The balance cannot cover the request's maximum cost (HTTP 402)."""


class BillingUnavailable(Refusal):
    """The store could not take the hold (HTTP 503)."""


@dataclass(frozen=True, slots=True)
class Settle:
    """Close a request's hold: charge what was used (or release it all) and record usage.

    `reported_*` come from the provider's `complete` frame (None without one);
    `relayed_tokens` is what the coordinator itself counted.
    """

    request_id: str
    account_id: str
    api_key_id: str | None
    model: str
    provider_id: str | None
    prompt_tokens_est: int
    relayed_tokens: int
    reported_prompt_tokens: int | None
    reported_completion_tokens: int | None
    outcome: str
    ttft_ms: int | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class BillingStats:
    """→ dict of counters (held, refused, settled, released, failed, mismatches)."""


@dataclass(frozen=True, slots=True)
class BillingIdle:
    """Ask → None once no hold or settlement is in progress (used at shutdown)."""


@dataclass(frozen=True, slots=True)
class PriceChanged:
    """Tell: a model's price changed (None: any model's); drop the cached price so the
    next hold reads the store (cluster broadcast, `cluster/state.py`)."""

    model: str | None
