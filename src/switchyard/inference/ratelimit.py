"""RateLimiter: per-key token buckets for requests and tokens per minute.

A request is admitted when its key has a whole request left in its RPM bucket and enough
left in its TPM bucket for the most it may use (estimated prompt + max_tokens); both are
debited on admission, and the unused tokens are refunded when the request ends, so the
budget bites exactly at the configured numbers. Buckets refill continuously (limit / 60
per second) up to the limit. Limits come per key from the store, else the defaults.

`take` is the admission rule on a pair of buckets; the cluster's shared limiter
(`cluster/shared_ratelimit.py`) applies the same rule to buckets kept in NATS KV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import trio

from ..storage.models import KeyLimits


@dataclass
class Bucket:
    """A token bucket refilling `capacity` per minute, continuously."""

    capacity: float
    level: float
    updated: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.capacity / 60)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 if it is now)."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing * 60 / self.capacity


@dataclass(frozen=True)
class Refusal:
    """Why a request was not admitted and when to try again."""

    limit: str  # "rpm" or "tpm"
    retry_after_s: float
    message: str


class RateLimiter:
    """Buckets per (key, limit); see the module docstring."""

    def __init__(self, default_rpm: int | None, default_tpm: int | None) -> None:
        self.default = KeyLimits(default_rpm, default_tpm)
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def _bucket(self, key_id: str, kind: str, limit: int, now: float) -> Bucket:
        bucket = self._buckets.get((key_id, kind))
        if bucket is None or bucket.capacity != limit:
            level = limit if bucket is None else min(bucket.level, limit)
            bucket = self._buckets[(key_id, kind)] = Bucket(float(limit), float(level), now)
        bucket.refill(now)
        return bucket

    def admit(self, key_id: str, limits: KeyLimits, tokens: int, now: float) -> Refusal | None:
        """Debit one request and `tokens`, or say why not (nothing debited then)."""
        rpm, tpm = self.effective(limits)
        requests = self._bucket(key_id, "rpm", rpm, now) if rpm else None
        budget = self._bucket(key_id, "tpm", tpm, now) if tpm else None
        return take(requests, budget, tokens)

    async def acquire(self, key_id: str, limits: KeyLimits, tokens: int) -> Refusal | None:
        """`admit` now (the interface the request path uses; no checkpoint)."""
        return self.admit(key_id, limits, tokens, trio.current_time())

    def effective(self, limits: KeyLimits) -> tuple[int | None, int | None]:
        """(rpm, tpm) for a key: its own limits, else the defaults (None: unlimited)."""
        rpm = limits.rpm if limits.rpm is not None else self.default.rpm
        tpm = limits.tpm if limits.tpm is not None else self.default.tpm
        return rpm, tpm

    def refund(self, key_id: str, tokens: int) -> None:
        """Give back tokens admitted but not used."""
        bucket = self._buckets.get((key_id, "tpm"))
        if bucket is not None and tokens > 0:
            bucket.level = min(bucket.capacity, bucket.level + tokens)


class KeyLimiter(Protocol):
    """What the request path needs of a rate limiter (RateLimiter, or the cluster's)."""

    async def acquire(self, key_id: str, limits: KeyLimits, tokens: int) -> Refusal | None:
        """Debit one request and `tokens` for the key, or say why not."""

    def refund(self, key_id: str, tokens: int) -> None:
        """Give back tokens admitted but not used (never blocks)."""


def take(requests: Bucket | None, budget: Bucket | None, tokens: int) -> Refusal | None:
    """The admission rule on refilled buckets (None: no such limit): debit one request
    and `tokens`, or return why not and debit nothing."""
    if requests is not None and requests.level < 1:
        rpm = int(requests.capacity)
        wait = requests.wait_for(1)
        return Refusal("rpm", wait, f"Rate limit reached: {rpm} requests per minute.")
    if budget is not None:
        tpm = int(budget.capacity)
        if tokens > budget.capacity:
            return Refusal(
                "tpm", 60.0,
                f"This request may use {tokens} tokens, more than the {tpm} tokens per "
                "minute this key allows; lower max_tokens.",
            )  # fmt: skip
        if budget.level < tokens:
            wait = budget.wait_for(tokens)
            return Refusal("tpm", wait, f"Rate limit reached: {tpm} tokens per minute.")
    if requests is not None:
        requests.level -= 1
    if budget is not None:
        budget.level -= tokens
    return None
