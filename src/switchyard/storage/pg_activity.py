"""PostgresStore parts: the self-service reports (storage/activity.py), one indexed query
each: usage by (account_id, created_at), earnings through providers by owner and usage by
(provider_id, created_at), open holds by the partial index on open holds, public totals
by usage created_at."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any, cast

import asyncpg
import trio

from . import validate as v
from .activity import EarningDay, ServedTokens, UsageDay
from .errors import InvalidInput, UnknownProvider
from .models import HoldRecord, ProviderRecord
from .pg_money import ensure_account
from .pg_rows import HOLD_COLS, PROVIDER_COLS, to_hold, to_provider

_DAY = "(u.created_at AT TIME ZONE 'UTC')::date"


async def usage_by_day(
    conn: asyncpg.Connection, account_id: str, since: datetime, until: datetime
) -> list[UsageDay]:
    await ensure_account(conn, account_id)
    rows = await conn.fetch(
        f"SELECT {_DAY} AS day, u.model, count(*) AS requests, "
        "sum(u.prompt_tokens)::bigint AS prompt_tokens, "
        "sum(u.completion_tokens)::bigint AS completion_tokens, "
        "sum(u.cost_micro_usd)::bigint AS cost_micro_usd "
        "FROM usage_records u WHERE u.account_id = $1 AND u.created_at >= $2 "
        "AND u.created_at < $3 GROUP BY 1, 2 ORDER BY 1, 2",
        account_id,
        since,
        until,
    )
    return [UsageDay(**dict(r)) for r in rows]


async def earnings_by_day(
    conn: asyncpg.Connection,
    account_id: str,
    since: datetime,
    until: datetime,
    neutral: list[str],
) -> list[EarningDay]:
    await ensure_account(conn, account_id)
    rows = await conn.fetch(
        f"SELECT {_DAY} AS day, u.provider_id, count(*) AS requests, "
        "count(*) FILTER (WHERE u.outcome <> ALL($4::text[])) AS errors, "
        "sum(u.prompt_tokens + u.completion_tokens)::bigint AS tokens, "
        "coalesce(sum(h.provider_earning_micro_usd) FILTER "
        "(WHERE h.provider_account_id = $1), 0)::bigint AS earnings_micro_usd "
        "FROM providers p JOIN usage_records u ON u.provider_id = p.id "
        "AND u.created_at >= $2 AND u.created_at < $3 "
        "LEFT JOIN holds h ON h.request_id = u.request_id "
        "WHERE p.owner_account_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
        account_id,
        since,
        until,
        neutral,
    )
    return [EarningDay(**dict(r)) for r in rows]


async def open_holds_of(conn: asyncpg.Connection, account_id: str, limit: int) -> list[HoldRecord]:
    await ensure_account(conn, account_id)
    rows = await conn.fetch(
        f"SELECT {HOLD_COLS} FROM holds WHERE account_id = $1 AND status = 'open' "
        "ORDER BY created_at, request_id LIMIT $2",
        account_id,
        limit,
    )
    return [to_hold(r) for r in rows]


async def providers_of(conn: asyncpg.Connection, account_id: str) -> list[ProviderRecord]:
    await ensure_account(conn, account_id)
    rows = await conn.fetch(
        f"SELECT {PROVIDER_COLS} FROM providers WHERE owner_account_id = $1 "
        "ORDER BY created_at, id",
        account_id,
    )
    return [to_provider(r) for r in rows]


async def served_tokens_since(conn: asyncpg.Connection, since: datetime) -> int:
    total = await conn.fetchval(
        "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint "
        "FROM usage_records WHERE created_at >= $1 AND provider_id IS NOT NULL",
        since,
    )
    return int(total)


async def set_leaderboard_listing(conn: asyncpg.Connection, provider_id: str, listed: bool) -> None:
    if not await conn.fetchval("SELECT 1 FROM providers WHERE id = $1", provider_id):
        raise UnknownProvider(f"unknown provider {provider_id!r}")
    await conn.execute(
        "INSERT INTO provider_listing (provider_id, leaderboard) VALUES ($1, $2) "
        "ON CONFLICT (provider_id) DO UPDATE SET leaderboard = EXCLUDED.leaderboard, "
        "updated_at = now()",
        provider_id,
        listed,
    )


async def listed_providers(conn: asyncpg.Connection, provider_ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT provider_id FROM provider_listing WHERE leaderboard "
        "AND provider_id = ANY($1::text[])",
        provider_ids,
    )
    return {r["provider_id"] for r in rows}


async def leaderboard(conn: asyncpg.Connection, since: datetime, limit: int) -> list[ServedTokens]:
    rows = await conn.fetch(
        "SELECT u.provider_id, sum(u.prompt_tokens + u.completion_tokens)::bigint AS tokens "
        "FROM provider_listing l JOIN usage_records u ON u.provider_id = l.provider_id "
        "AND u.created_at >= $1 WHERE l.leaderboard GROUP BY 1 "
        "HAVING sum(u.prompt_tokens + u.completion_tokens) > 0 ORDER BY 2 DESC, 1 LIMIT $2",
        since,
        limit,
    )
    return [ServedTokens(r["provider_id"], int(r["tokens"])) for r in rows]


class PgActivityMixin:
    """The report methods of PostgresStore (which supplies `_run`)."""

    _run: Callable[..., Awaitable[Any]]

    async def usage_by_day(
        self, account_id: str, since: datetime, until: datetime
    ) -> list[UsageDay]:
        start, end = v.time_range(since, until)
        account = v.ident(account_id, "account_id")
        return cast(list[UsageDay], await self._run(usage_by_day, account, start, end))

    async def earnings_by_day(
        self,
        account_id: str,
        since: datetime,
        until: datetime,
        neutral_outcomes: Collection[str],
    ) -> list[EarningDay]:
        start, end = v.time_range(since, until)
        account = v.ident(account_id, "account_id")
        neutral = [str(v.ident(o, "outcome")) for o in neutral_outcomes]
        result = await self._run(earnings_by_day, account, start, end, neutral)
        return cast(list[EarningDay], result)

    async def open_holds_of(self, account_id: str, limit: int = 100) -> list[HoldRecord]:
        account = v.ident(account_id, "account_id")
        return cast(list[HoldRecord], await self._run(open_holds_of, account, v.limit(limit)))

    async def providers_of(self, account_id: str) -> list[ProviderRecord]:
        account = v.ident(account_id, "account_id")
        return cast(list[ProviderRecord], await self._run(providers_of, account))

    async def served_tokens_since(self, since: datetime) -> int:
        return cast(int, await self._run(served_tokens_since, v.timestamp(since, "since")))

    async def set_leaderboard_listing(self, provider_id: str, listed: bool) -> None:
        key = v.ident(provider_id, "provider_id")
        if not isinstance(listed, bool):
            raise InvalidInput("listed must be a boolean")
        await self._run(set_leaderboard_listing, key, listed)

    async def listed_providers(self, provider_ids: Collection[str]) -> set[str]:
        ids = [v.ident(p, "provider_id") for p in provider_ids]
        if not ids:
            await trio.lowlevel.checkpoint()
            return set()
        return cast(set[str], await self._run(listed_providers, ids))

    async def leaderboard(self, since: datetime, limit: int) -> list[ServedTokens]:
        start, count = v.timestamp(since, "since"), v.limit(limit)
        return cast(list[ServedTokens], await self._run(leaderboard, start, count))
