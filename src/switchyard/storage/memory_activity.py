"""MemoryStore parts: usage per day, earnings per node and day, open holds, nodes, public
stats and the leaderboard.

Same rule as memory.py: one checkpoint first, then no await. Reports read the account's
or the provider's own usage list; the public totals scan every provider's list (the
embedded store is for development; callers cache them).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import trio

from . import validate as v
from .activity import EarningDay, ServedTokens, UsageDay
from .errors import InvalidInput, UnknownProvider
from .models import Account, HoldRecord, HoldStatus, ProviderRecord, UsageRecord


def _in_range(
    rows: Iterable[UsageRecord], since: datetime, until: datetime
) -> Iterable[UsageRecord]:
    return (r for r in rows if since <= r.created_at < until)


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


class MemoryActivityMixin:
    """Reports for MemoryStore (which supplies the state)."""

    _usage: dict[str, list[UsageRecord]]
    _usage_by_provider: dict[str, list[UsageRecord]]
    _holds: dict[str, HoldRecord]
    _providers: dict[str, ProviderRecord]
    _leaderboard: set[str]

    if TYPE_CHECKING:  # supplied by MemoryProvidersMixin

        def _account(self, account_id: object, what: str = "account_id") -> Account: ...

    async def usage_by_day(
        self, account_id: str, since: datetime, until: datetime
    ) -> list[UsageDay]:
        await trio.lowlevel.checkpoint()
        start, end = v.time_range(since, until)
        rows = self._usage.get(self._account(account_id).id, [])
        days: dict[tuple[date, str], list[int]] = {}
        for row in _in_range(rows, start, end):
            sums = days.setdefault((_day(row.created_at), row.model), [0, 0, 0, 0])
            sums[0] += 1
            sums[1] += row.prompt_tokens
            sums[2] += row.completion_tokens
            sums[3] += row.cost_micro_usd
        return [UsageDay(day, model, *sums) for (day, model), sums in sorted(days.items())]

    async def earnings_by_day(
        self,
        account_id: str,
        since: datetime,
        until: datetime,
        neutral_outcomes: Collection[str],
    ) -> list[EarningDay]:
        await trio.lowlevel.checkpoint()
        start, end = v.time_range(since, until)
        owner = self._account(account_id).id
        neutral = set(neutral_outcomes)
        days: dict[tuple[date, str], list[int]] = {}
        for provider in self._providers.values():
            if provider.owner_account_id != owner:
                continue
            for row in _in_range(self._usage_by_provider.get(provider.id, []), start, end):
                hold = self._holds.get(row.request_id)
                earned = (
                    hold.provider_earning_micro_usd
                    if hold is not None and hold.provider_account_id == owner
                    else 0
                )
                sums = days.setdefault((_day(row.created_at), provider.id), [0, 0, 0, 0])
                sums[0] += 1
                sums[1] += row.outcome not in neutral
                sums[2] += row.prompt_tokens + row.completion_tokens
                sums[3] += earned
        return [EarningDay(day, pid, *sums) for (day, pid), sums in sorted(days.items())]

    async def open_holds_of(self, account_id: str, limit: int = 100) -> list[HoldRecord]:
        await trio.lowlevel.checkpoint()
        count = v.limit(limit)
        account = self._account(account_id).id
        mine = (
            h
            for h in self._holds.values()
            if h.account_id == account and h.status is HoldStatus.OPEN
        )
        return sorted(mine, key=lambda h: (h.created_at, h.request_id))[:count]

    async def providers_of(self, account_id: str) -> list[ProviderRecord]:
        await trio.lowlevel.checkpoint()
        owner = self._account(account_id).id
        mine = (p for p in self._providers.values() if p.owner_account_id == owner)
        return sorted(mine, key=lambda p: (p.created_at, p.id))

    async def served_tokens_since(self, since: datetime) -> int:
        await trio.lowlevel.checkpoint()
        start = v.timestamp(since, "since")
        return sum(
            r.prompt_tokens + r.completion_tokens
            for rows in self._usage_by_provider.values()
            for r in rows
            if r.created_at >= start
        )

    async def set_leaderboard_listing(self, provider_id: str, listed: bool) -> None:
        await trio.lowlevel.checkpoint()
        key = v.ident(provider_id, "provider_id")
        if not isinstance(listed, bool):
            raise InvalidInput("listed must be a boolean")
        if key not in self._providers:
            raise UnknownProvider(f"unknown provider {key!r}")
        if listed:
            self._leaderboard.add(key)
        else:
            self._leaderboard.discard(key)

    async def listed_providers(self, provider_ids: Collection[str]) -> set[str]:
        await trio.lowlevel.checkpoint()
        return {p for p in provider_ids if p in self._leaderboard}

    async def leaderboard(self, since: datetime, limit: int) -> list[ServedTokens]:
        await trio.lowlevel.checkpoint()
        start = v.timestamp(since, "since")
        count = v.limit(limit)
        totals = [
            ServedTokens(
                pid,
                sum(
                    r.prompt_tokens + r.completion_tokens
                    for r in self._usage_by_provider.get(pid, [])
                    if r.created_at >= start
                ),
            )
            for pid in self._leaderboard
        ]
        ranked = sorted(
            (t for t in totals if t.tokens > 0), key=lambda t: (-t.tokens, t.provider_id)
        )
        return ranked[:count]
