"""Argument validation shared by both stores, so they raise identical typed errors.

Every public Store method validates its arguments with these before touching state;
a failure raises `InvalidInput` (never a driver error such as a NUL byte rejected by
Postgres or a bigint overflow).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .errors import InvalidInput
from .models import KeyLimits, LedgerKind, UsageRecord

MAX_NAME_LEN = 200
MAX_ID_LEN = 200
MAX_TEXT_LEN = 2000
# One operation may move at most $1e9; keeps every sum far inside a signed 64-bit integer.
MAX_AMOUNT = 10**15
MAX_TOKENS = 10**12
MAX_LIMIT = 10_000


def text(value: object, what: str, *, max_len: int = MAX_TEXT_LEN) -> str:
    """A str of bounded length, encodable as UTF-8, without NUL characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string")
    if not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters")
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} is not valid Unicode text") from exc
    return value


def name(value: object, what: str = "name") -> str:
    """A human-readable name: 1..200 characters."""
    return text(value, what, max_len=MAX_NAME_LEN)


def ident(value: object, what: str) -> str:
    """An object id or other key: 1..200 characters."""
    return text(value, what, max_len=MAX_ID_LEN)


def optional_ident(value: object, what: str) -> str | None:
    """None, or a valid id."""
    return None if value is None else ident(value, what)


def duration_s(value: object, what: str) -> float:
    """A duration in seconds: a number in [0, one day] (NaN and infinities refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86_400:
        raise InvalidInput(f"{what} must be a number of seconds between 0 and 86400")
    return float(value)


def integer(value: object, what: str, *, low: int, high: int) -> int:
    """An int (not bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer")
    if not low <= value <= high:
        raise InvalidInput(f"{what} must be between {low} and {high}")
    return value


def amount(value: object, what: str = "amount_micro_usd", *, allow_zero: bool = False) -> int:
    """A positive (or non-negative) amount of micro-USD."""
    return integer(value, what, low=0 if allow_zero else 1, high=MAX_AMOUNT)


def optional_count(value: object, what: str) -> int | None:
    """None, or a non-negative integer (token counts, milliseconds)."""
    return None if value is None else integer(value, what, low=0, high=MAX_TOKENS)


def limit(value: object) -> int:
    """A result-count limit: 1..10000."""
    return integer(value, "limit", low=1, high=MAX_LIMIT)


def credit_kind(kind: object) -> LedgerKind:
    """`credit()` accepts only kinds topup and adjustment."""
    if not isinstance(kind, str) or kind not in {member.value for member in LedgerKind}:
        raise InvalidInput(f"unknown ledger kind {kind!r}")
    parsed = LedgerKind(kind)
    if parsed not in (LedgerKind.TOPUP, LedgerKind.ADJUSTMENT):
        raise InvalidInput("credit() accepts only kinds 'topup' and 'adjustment'")
    return parsed


def credit_amount(value: object, kind: LedgerKind) -> int:
    """A topup is positive; an adjustment is any non-zero amount (negative debits)."""
    if kind is LedgerKind.TOPUP:
        return amount(value)
    checked = integer(value, "amount_micro_usd", low=-MAX_AMOUNT, high=MAX_AMOUNT)
    if checked == 0:
        raise InvalidInput("amount_micro_usd must not be zero")
    return checked


def settlement(
    actual_cost: object, provider_account_id: object, provider_earning: object
) -> tuple[int, str | None, int]:
    """Arguments of settle_hold: 0 <= earning <= actual cost; earning needs a provider."""
    cost = amount(actual_cost, "actual_cost_micro_usd", allow_zero=True)
    provider = optional_ident(provider_account_id, "provider_account_id")
    earning = amount(provider_earning, "provider_earning_micro_usd", allow_zero=True)
    if earning > cost:
        raise InvalidInput("provider earning cannot exceed the actual cost")
    if provider is None and earning:
        raise InvalidInput("a provider earning needs a provider_account_id")
    return cost, provider, earning


# Idempotency keys the stores generate themselves live under these prefixes, so a
# caller-chosen key can never collide with (and block) a settlement or a Stripe credit.
RESERVED_KEY_PREFIXES = ("sy:", "stripe:")


def user_key(value: object, what: str = "idempotency_key") -> str:
    """A caller-chosen idempotency key: a valid id outside the reserved namespaces."""
    key = ident(value, what)
    if key.startswith(RESERVED_KEY_PREFIXES):
        raise InvalidInput(f"{what} must not start with {' or '.join(RESERVED_KEY_PREFIXES)}")
    return key


def hold_keys(request_id: str) -> dict[str, str]:
    """Idempotency keys of the ledger entries a hold's life cycle writes."""
    return {kind: f"sy:{kind}:{request_id}" for kind in ("hold", "settle", "release", "earning")}


def stripe_key(event_id: str) -> str:
    """Idempotency key of the topup entry that a Stripe event credits."""
    return f"stripe:{event_id}"


def usage_batch(records: object) -> list[UsageRecord]:
    """A sequence of UsageRecord with valid fields (validated in full before any write)."""
    if isinstance(records, str | bytes) or not isinstance(records, Sequence):
        raise InvalidInput("records must be a sequence of UsageRecord")
    return [usage_record(record) for record in records]


MAX_OUTCOME_LEN = 100


def usage_record(record: object) -> UsageRecord:
    """One UsageRecord whose every field the usage table can hold."""
    if not isinstance(record, UsageRecord):
        raise InvalidInput("records must contain only UsageRecord instances")
    ident(record.request_id, "request_id")
    ident(record.account_id, "account_id")
    optional_ident(record.api_key_id, "api_key_id")
    optional_ident(record.provider_id, "provider_id")
    ident(record.model, "model")
    integer(record.prompt_tokens, "prompt_tokens", low=0, high=MAX_TOKENS)
    integer(record.completion_tokens, "completion_tokens", low=0, high=MAX_TOKENS)
    amount(record.cost_micro_usd, "cost_micro_usd", allow_zero=True)
    optional_count(record.ttft_ms, "ttft_ms")
    optional_count(record.duration_ms, "duration_ms")
    text(record.outcome, "outcome", max_len=MAX_OUTCOME_LEN)
    timestamp(record.created_at, "created_at")
    return record


def closing_usage(record: object, hold: str) -> UsageRecord | None:
    """The usage row a settlement or release of hold `hold` writes with it (or None).

    It must be the hold's own row: its request id is the hold's."""
    if record is None:
        return None
    checked = usage_record(record)
    if checked.request_id != hold:
        raise InvalidInput("the usage row must carry the hold's request id")
    return checked


def timestamp(value: object, what: str) -> datetime:
    """A timezone-aware datetime."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime")
    return value


def context_length(value: object) -> int | None:
    """None, or a positive context window in tokens."""
    return None if value is None else integer(value, "context_length", low=1, high=MAX_TOKENS)


def key_limits(value: object) -> KeyLimits:
    """Rate limits: each a positive int (at most 10^9) or None."""
    if not isinstance(value, KeyLimits):
        raise InvalidInput("limits must be KeyLimits")
    for what in ("rpm", "tpm"):
        limit = getattr(value, what)
        if limit is not None and (type(limit) is not int or not 0 < limit <= 10**9):
            raise InvalidInput(f"{what} must be a positive integer or null")
    return value


def time_range(since: object, until: object) -> tuple[datetime, datetime]:
    """[since, until): two aware datetimes, since before until."""
    start, end = timestamp(since, "since"), timestamp(until, "until")
    if start >= end:
        raise InvalidInput("since must be before until")
    return start, end
