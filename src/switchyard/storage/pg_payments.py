"""PostgresStore payments: Stripe events credited once, payouts of provider earnings.

Asyncio-flavoured coroutines taking an asyncpg connection and validated arguments, each
one transaction built from the ledger helpers of pg_money.py (same locking and
idempotency rules).
"""

from __future__ import annotations

import asyncpg

from . import validate as v
from .errors import Conflict
from .keys import new_id
from .models import LedgerKind, PayoutRecord
from .pg_money import append_entry, credit_accounts, debit, ensure_account
from .pg_rows import PAYOUT_COLS, to_payout


async def record_stripe_event(
    conn: asyncpg.Connection, event_id: str, account_id: str, amount: int, session: str | None
) -> bool:
    """Record the event and credit it in one transaction; False when the event, or another
    event of the same Checkout Session, was already processed (either unique key)."""
    async with conn.transaction():
        inserted = await conn.fetchval(
            "INSERT INTO stripe_events (event_id, account_id, amount_micro_usd, session_id) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING event_id",
            event_id,
            account_id,
            amount,
            session,
        )
        if inserted is None:
            return False
        await credit_accounts(conn, {account_id: (amount, 0)})
        await append_entry(
            conn,
            account_id,
            amount,
            LedgerKind.TOPUP,
            f"stripe event {event_id}",
            v.stripe_key(event_id),
        )
        return True


async def create_payout(
    conn: asyncpg.Connection, account_id: str, amount: int, key: str
) -> PayoutRecord:
    """Debit earnings into a payout once per idempotency key (replays return the original)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO payouts (id, account_id, amount_micro_usd, idempotency_key) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING "
            f"RETURNING {PAYOUT_COLS}",
            new_id("po"),
            account_id,
            amount,
            key,
        )
        if row is not None:
            payout = to_payout(row)
            await append_entry(conn, account_id, -amount, LedgerKind.PAYOUT, payout.id, key)
            await debit(conn, "earnings_micro_usd", account_id, amount)
            return payout
    row = await conn.fetchrow(f"SELECT {PAYOUT_COLS} FROM payouts WHERE idempotency_key = $1", key)
    existing = None if row is None else to_payout(row)
    if existing is None or (existing.account_id, existing.amount_micro_usd) != (account_id, amount):
        raise Conflict(f"idempotency key {key!r} was used for a different payout")
    return existing


async def list_payouts(conn: asyncpg.Connection, account_id: str | None) -> list[PayoutRecord]:
    """Oldest first, optionally for one account."""
    if account_id is None:
        rows = await conn.fetch(f"SELECT {PAYOUT_COLS} FROM payouts ORDER BY created_at, id")
    else:
        rows = await conn.fetch(
            f"SELECT {PAYOUT_COLS} FROM payouts WHERE account_id = $1 ORDER BY created_at, id",
            account_id,
        )
        if not rows:
            await ensure_account(conn, account_id)
    return [to_payout(r) for r in rows]
