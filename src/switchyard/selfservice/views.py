"""Read models of an account: balance and open holds, usage per day and model, earnings
per day and node, payouts. Shared by the JSON API and the dashboard.

Report ranges are whole UTC days: `days` back from today (1..MAX_REPORT_DAYS, default 30),
or `since` / `until` dates (YYYY-MM-DD, `until` inclusive) no more than MAX_REPORT_DAYS
apart. Anything else is a 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..protocol.errors import invalid_request
from ..protocol.limits import MAX_REPORT_DAYS
from ..protocol.vocabulary import NEUTRAL_OUTCOMES, ApiErrorCode
from ..storage.activity import EarningDay, UsageDay
from ..storage.models import utc_now
from ..storage.protocol import Store
from .accounts import account_gone

DEFAULT_REPORT_DAYS = 30
OPEN_HOLDS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class DayRange:
    """Whole UTC days `first`..`last` (inclusive)."""

    first: date
    last: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    def json(self) -> dict[str, str]:
        return {"since": self.first.isoformat(), "until": self.last.isoformat()}


def _date(value: str, param: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid_request("Give a date as YYYY-MM-DD.", param=param) from None


def day_range(args: Mapping[str, str], today: date | None = None) -> DayRange:
    """The range a request's query parameters ask for (see the module docstring)."""
    today = today or utc_now().date()
    if "since" in args or "until" in args:
        last = _date(args["until"], "until") if "until" in args else today
        first = _date(args["since"], "since") if "since" in args else last
        if first > last:
            raise invalid_request("since must not be after until.", param="since")
        if (last - first).days + 1 > MAX_REPORT_DAYS:
            raise invalid_request(
                f"Ask for at most {MAX_REPORT_DAYS} days at a time.",
                param="since",
                code=ApiErrorCode.RANGE_TOO_LARGE,
            )
        return DayRange(first, last)
    raw = args.get("days", str(DEFAULT_REPORT_DAYS))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPORT_DAYS:
        raise invalid_request(
            f"days must be a whole number from 1 to {MAX_REPORT_DAYS}.",
            param="days",
            code=ApiErrorCode.RANGE_TOO_LARGE,
        )
    return DayRange(today - timedelta(days=int(raw) - 1), today)


async def balance_view(store: Store, account_id: str) -> dict[str, Any]:
    """Balance, earnings and the open holds (oldest first, at most OPEN_HOLDS_SHOWN)."""
    holds = await store.open_holds_of(account_id, OPEN_HOLDS_SHOWN)  # before the balance
    count = await store.count_open_holds(account_id)
    account = await store.get_account(account_id)
    if account is None:
        raise account_gone()
    return {
        "balance_micro_usd": account.balance_micro_usd,
        "earnings_micro_usd": account.earnings_micro_usd,
        "open_holds": count,
        "held_micro_usd": sum(h.amount_micro_usd for h in holds),
        "holds": [
            {
                "request_id": h.request_id,
                "amount_micro_usd": h.amount_micro_usd,
                "created_at": h.created_at.isoformat(),
            }
            for h in holds
        ],
    }


def _usage_day(row: UsageDay) -> dict[str, Any]:
    return {
        "day": row.day.isoformat(),
        "model": row.model,
        "requests": row.requests,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cost_micro_usd": row.cost_micro_usd,
    }


async def usage_view(store: Store, account_id: str, days: DayRange) -> dict[str, Any]:
    """Usage per day and model in the range, with totals per model and overall."""
    rows = await store.usage_by_day(account_id, days.since, days.until)
    by_model: dict[str, dict[str, int]] = {}
    for row in rows:
        sums = by_model.setdefault(
            row.model,
            {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_micro_usd": 0},
        )
        sums["requests"] += row.requests
        sums["prompt_tokens"] += row.prompt_tokens
        sums["completion_tokens"] += row.completion_tokens
        sums["cost_micro_usd"] += row.cost_micro_usd
    total = {k: sum(m[k] for m in by_model.values()) for k in ("requests", "cost_micro_usd")}
    return {
        **days.json(),
        "days": [_usage_day(r) for r in rows],
        "by_model": by_model,
        "total": total,
    }


def _earning_day(row: EarningDay) -> dict[str, Any]:
    return {
        "day": row.day.isoformat(),
        "provider_id": row.provider_id,
        "requests": row.requests,
        "errors": row.errors,
        "tokens": row.tokens,
        "earnings_micro_usd": row.earnings_micro_usd,
    }


async def earnings_rows(store: Store, account_id: str, days: DayRange) -> list[EarningDay]:
    """The owner's per-node, per-day rows (errors: outcomes other than the neutral ones)."""
    return await store.earnings_by_day(account_id, days.since, days.until, NEUTRAL_OUTCOMES)


def node_totals(rows: list[EarningDay]) -> dict[str, dict[str, int]]:
    """Per node: requests, errors, tokens and earnings summed over the rows."""
    totals: dict[str, dict[str, int]] = {}
    for row in rows:
        sums = totals.setdefault(
            row.provider_id, {"requests": 0, "errors": 0, "tokens": 0, "earnings_micro_usd": 0}
        )
        sums["requests"] += row.requests
        sums["errors"] += row.errors
        sums["tokens"] += row.tokens
        sums["earnings_micro_usd"] += row.earnings_micro_usd
    return totals


async def earnings_view(store: Store, account_id: str, days: DayRange) -> dict[str, Any]:
    """Earnings per day and node in the range, with per-node totals."""
    rows = await earnings_rows(store, account_id, days)
    by_node = node_totals(rows)
    return {
        **days.json(),
        "days": [_earning_day(r) for r in rows],
        "by_node": by_node,
        "total_earnings_micro_usd": sum(n["earnings_micro_usd"] for n in by_node.values()),
    }


async def payouts_view(store: Store, account_id: str) -> list[dict[str, Any]]:
    """The account's payouts, oldest first."""
    return [
        {
            "id": p.id,
            "amount_micro_usd": p.amount_micro_usd,
            "created_at": p.created_at.isoformat(),
        }
        for p in await store.list_payouts(account_id)
    ]
