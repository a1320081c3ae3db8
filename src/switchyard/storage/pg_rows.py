"""PostgresStore plumbing: column lists, row converters, the usage insert, error translation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from asyncpg.exceptions._base import DataError as ClientDataError

from .errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    StoreError,
    StoreUnavailable,
    UnknownAccount,
)
from .models import (
    Account,
    ApiKeyRecord,
    HoldRecord,
    HoldStatus,
    LedgerEntry,
    LedgerKind,
    PayoutRecord,
    Pricing,
    ProviderRecord,
    ProviderTokenRecord,
    UsageRecord,
)

ACCOUNT_COLS = "id, name, balance_micro_usd, earnings_micro_usd, created_at"
SECRET_COLS = "id, account_id, name, prefix, created_at, last_used_at, revoked_at"
PROVIDER_COLS = "id, owner_account_id, public_key, trust, created_at, last_seen_at"
PRICING_COLS = (
    "model, input_micro_usd_per_mtok, output_micro_usd_per_mtok, context_length, updated_at"
)
LEDGER_COLS = "id, account_id, amount_micro_usd, kind, reference, idempotency_key, created_at"
HOLD_COLS = (
    "request_id, account_id, amount_micro_usd, status, created_at, closed_at, "
    "charged_micro_usd, provider_account_id, provider_earning_micro_usd, replica_id"
)
USAGE_COLS = (
    "request_id, account_id, api_key_id, provider_id, model, prompt_tokens, "
    "completion_tokens, cost_micro_usd, ttft_ms, duration_ms, outcome, created_at"
)
PAYOUT_COLS = "id, account_id, amount_micro_usd, idempotency_key, created_at"
_USAGE_TYPES = (
    "text[], text[], text[], text[], text[], int8[], int8[], int8[], int8[], int8[], text[], "
    "timestamptz[]"
)
_USAGE_INSERT = (
    f"INSERT INTO usage_records ({USAGE_COLS}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{t.strip()}" for i, t in enumerate(_USAGE_TYPES.split(","), 1))
    + ")"
)


async def insert_usage(conn: asyncpg.Connection, records: Sequence[UsageRecord]) -> None:
    """Insert validated usage rows with one statement (on the caller's transaction, if any)."""
    if not records:
        return
    columns = [c.strip() for c in USAGE_COLS.split(",")]
    arrays = [[getattr(r, c) for r in records] for c in columns]
    await conn.execute(_USAGE_INSERT, *arrays)


def to_account(row: asyncpg.Record) -> Account:
    """accounts row -> Account."""
    return Account(**dict(row))


def to_api_key(row: asyncpg.Record) -> ApiKeyRecord:
    """api_keys row -> ApiKeyRecord."""
    return ApiKeyRecord(**dict(row))


def to_provider_token(row: asyncpg.Record) -> ProviderTokenRecord:
    """provider_tokens row -> ProviderTokenRecord."""
    return ProviderTokenRecord(**dict(row))


def to_provider(row: asyncpg.Record) -> ProviderRecord:
    """providers row -> ProviderRecord."""
    return ProviderRecord(**dict(row))


def to_pricing(row: asyncpg.Record) -> Pricing:
    """pricing row -> Pricing."""
    return Pricing(**dict(row))


def to_ledger(row: asyncpg.Record) -> LedgerEntry:
    """ledger row -> LedgerEntry."""
    fields = dict(row)
    fields["kind"] = LedgerKind(fields["kind"])
    return LedgerEntry(**fields)


def to_hold(row: asyncpg.Record) -> HoldRecord:
    """holds row -> HoldRecord."""
    fields = dict(row)
    fields["status"] = HoldStatus(fields["status"])
    return HoldRecord(**fields)


def to_usage(row: asyncpg.Record) -> UsageRecord:
    """usage_records row -> UsageRecord."""
    return UsageRecord(**dict(row))


def to_payout(row: asyncpg.Record) -> PayoutRecord:
    """payouts row -> PayoutRecord."""
    return PayoutRecord(**dict(row))


RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


def translate(exc: BaseException) -> StoreError:
    """Map a driver or network exception to the StoreError a caller should see."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict(f"already exists ({exc.constraint_name})")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return UnknownAccount("unknown account")
    if isinstance(exc, asyncpg.CheckViolationError):
        name = exc.constraint_name or ""
        if name.startswith(("accounts_balance", "accounts_earnings")):
            return InsufficientFunds("the balance cannot cover the debit")
        return InvalidInput(f"value out of range ({name})")
    if isinstance(exc, asyncpg.DataError | ClientDataError):
        return InvalidInput("a value was rejected by the database")
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
        return StoreUnavailable(f"database error: {type(exc).__name__}")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return StoreUnavailable("database timed out")
    return StoreUnavailable(f"unexpected database failure: {type(exc).__name__}")
