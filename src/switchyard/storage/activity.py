"""The read side of self-service in the Store contract: usage per day and model, earnings
per day and node, an account's open holds and nodes, public stats and the leaderboard.

Every range is [since, until) in UTC; days are UTC calendar days. Callers bound the
ranges (`selfservice/views.py`); both stores answer from indexes (Postgres) or per-account
and per-provider lists (memory), never from a scan of everybody's rows per request,
except the memory store's public totals (cached by the caller).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from .models import HoldRecord, ProviderRecord


@dataclass(frozen=True, slots=True)
class UsageDay:
    """One consumer's requests of one model on one day."""

    day: date
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micro_usd: int


@dataclass(frozen=True, slots=True)
class EarningDay:
    """What one node (provider id) of an owner served and earned on one day.

    `tokens` counts prompt and completion tokens; `errors` the requests whose outcome is
    not one of the neutral outcomes the caller names."""

    day: date
    provider_id: str
    requests: int
    errors: int
    tokens: int
    earnings_micro_usd: int


@dataclass(frozen=True, slots=True)
class ServedTokens:
    """A provider's tokens (prompt + completion) served in a range."""

    provider_id: str
    tokens: int


class ActivityStore(Protocol):
    """Reports for account owners and the public."""

    async def usage_by_day(
        self, account_id: str, since: datetime, until: datetime
    ) -> list[UsageDay]:
        """The account's usage grouped by UTC day and model, oldest day first."""

    async def earnings_by_day(
        self,
        account_id: str,
        since: datetime,
        until: datetime,
        neutral_outcomes: Collection[str],
    ) -> list[EarningDay]:
        """Requests, errors, tokens and earnings of each node the account owns, per UTC
        day, oldest day first (earnings as settled on each request's hold)."""

    async def open_holds_of(self, account_id: str, limit: int = 100) -> list[HoldRecord]:
        """The account's open holds, oldest first."""

    async def providers_of(self, account_id: str) -> list[ProviderRecord]:
        """The providers (nodes) the account owns, oldest first."""

    async def served_tokens_since(self, since: datetime) -> int:
        """Tokens (prompt + completion) every provider served since `since`."""

    async def set_leaderboard_listing(self, provider_id: str, listed: bool) -> None:
        """Opt a provider in or out of the public leaderboard (default: out)."""

    async def listed_providers(self, provider_ids: Collection[str]) -> set[str]:
        """Which of these providers are opted in."""

    async def leaderboard(self, since: datetime, limit: int) -> list[ServedTokens]:
        """Opted-in providers by tokens served since `since`, most first."""
