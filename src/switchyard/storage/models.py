"""Records returned by a Store: frozen dataclasses with integer micro-USD money.

Every timestamp is a timezone-aware UTC `datetime`. Records are immutable snapshots;
changing state always goes through a Store method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (what every store stamps records with)."""
    return datetime.now(UTC)


class LedgerKind(StrEnum):
    """Kinds of ledger entry and which balance each moves.

    `topup`, `hold`, `settle`, `release` and `adjustment` move the spendable balance;
    `earning` and `payout` move the earnings balance of a provider owner.
    """

    TOPUP = "topup"
    HOLD = "hold"
    SETTLE = "settle"
    RELEASE = "release"
    EARNING = "earning"
    PAYOUT = "payout"
    ADJUSTMENT = "adjustment"

    @property
    def moves_earnings(self) -> bool:
        """True when this kind moves `earnings_micro_usd` rather than `balance_micro_usd`."""
        return self in (LedgerKind.EARNING, LedgerKind.PAYOUT)


class HoldStatus(StrEnum):
    """Life cycle of a hold: open, then exactly one of settled or released."""

    OPEN = "open"
    SETTLED = "settled"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account: spendable balance and (for provider owners) earnings."""

    id: str
    name: str
    balance_micro_usd: int
    earnings_micro_usd: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key's stored form: never the raw key, only its display prefix."""

    id: str
    account_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """True once the key has been revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class ProviderTokenRecord:
    """A provider token's stored form (hashed like API keys); authenticates provider agents."""

    id: str
    account_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """True once the token has been revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A provider's durable identity. `trust` is opaque to storage (e.g. "self_signed")."""

    id: str
    owner_account_id: str
    public_key: str
    trust: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Pricing:
    """Price of one model in micro-USD per million input/output tokens."""

    model: str
    input_micro_usd_per_mtok: int
    output_micro_usd_per_mtok: int
    context_length: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One append-only ledger line. `amount_micro_usd` is signed: + credits, - debits."""

    id: int
    account_id: str
    amount_micro_usd: int
    kind: LedgerKind
    reference: str
    idempotency_key: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerSum:
    """Sums of an account's ledger entries, one per balance they move.

    For a consistent store these equal the account's `balance_micro_usd` and
    `earnings_micro_usd` at all times.
    """

    balance_micro_usd: int
    earnings_micro_usd: int


@dataclass(frozen=True, slots=True)
class HoldRecord:
    """A hold of a request's maximum cost, keyed by request id.

    `charged_micro_usd` is the actual cost once settled (0 once released, None while open);
    `provider_account_id` / `provider_earning_micro_usd` record who earned what at settlement.
    `replica_id` is the cluster replica responsible for it (None outside a cluster); a
    hold is recovered only when that replica is gone (`ReplicaHoldStore`).
    """

    request_id: str
    account_id: str
    amount_micro_usd: int
    status: HoldStatus
    created_at: datetime
    closed_at: datetime | None
    charged_micro_usd: int | None
    provider_account_id: str | None
    provider_earning_micro_usd: int
    replica_id: str | None = None  # the replica that placed it (None: single process)


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    """Result of settle_hold / release_hold.

    `already_closed` is True when the hold had been settled or released before this call;
    the call then changed nothing and `hold` shows how it was closed.
    """

    hold: HoldRecord
    already_closed: bool


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """Per-key rate limits; None means the coordinator's default for that limit."""

    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One request's usage, written in batches by the billing side.

    `outcome` is a short free-form label such as "ok", "error", "cancelled", "timeout".
    """

    request_id: str
    account_id: str
    api_key_id: str | None
    provider_id: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_micro_usd: int
    ttft_ms: int | None
    duration_ms: int | None
    outcome: str
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    """A payout of a provider owner's earnings (debited with ledger kind `payout`)."""

    id: str
    account_id: str
    amount_micro_usd: int
    idempotency_key: str
    created_at: datetime
