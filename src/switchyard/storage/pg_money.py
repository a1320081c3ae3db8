"""PostgresStore money operations: credits, holds and settlement, ledger checks.

A hold closes (settled or released) in the same transaction that writes its usage row, so
a crash can never leave a charge without its row, nor a row without its charge.

These are asyncio-flavoured coroutines taking an asyncpg connection; PostgresStore runs
them through trio-asyncio with validated arguments. Each money movement is one
transaction in which a single `UPDATE ... WHERE balance >= $n RETURNING` both checks and
changes the balance, next to its ledger entries. Accounts are always locked in id order,
so concurrent settlements cannot deadlock on each other.
"""

from __future__ import annotations

import dataclasses

import asyncpg

from . import validate as v
from .errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    UnknownAccount,
    UnknownHold,
)
from .models import (
    HoldOutcome,
    HoldRecord,
    HoldStatus,
    LedgerEntry,
    LedgerKind,
    LedgerSum,
    UsageRecord,
)
from .pg_rows import (
    HOLD_COLS,
    LEDGER_COLS,
    insert_usage,
    to_hold,
    to_ledger,
)

_EARNING_KINDS = "('earning', 'payout')"


async def ensure_account(conn: asyncpg.Connection, account_id: str) -> None:
    """Raise UnknownAccount unless the account exists."""
    if await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is None:
        raise UnknownAccount(f"unknown account {account_id!r}")


async def debit(conn: asyncpg.Connection, column: str, account_id: str, amount: int) -> None:
    """Check and debit in one statement; raise UnknownAccount or InsufficientFunds."""
    row = await conn.fetchrow(
        f"UPDATE accounts SET {column} = {column} - $1 "
        f"WHERE id = $2 AND {column} >= $1 RETURNING id",
        amount,
        account_id,
    )
    if row is None:
        await ensure_account(conn, account_id)
        raise InsufficientFunds(f"{column} of {account_id} cannot cover {amount} micro-USD")


async def append_entry(
    conn: asyncpg.Connection,
    account_id: str,
    amount: int,
    kind: LedgerKind,
    reference: str,
    key: str,
) -> LedgerEntry:
    """Append an entry; `Conflict` if its idempotency key is taken (see `_claim_entry`)."""
    entry = await _claimappend_entry(conn, account_id, amount, kind, reference, key)
    if entry is None:
        raise Conflict(f"idempotency key {key!r} was already used")
    return entry


async def _claimappend_entry(
    conn: asyncpg.Connection,
    account_id: str,
    amount: int,
    kind: LedgerKind,
    reference: str,
    key: str,
) -> LedgerEntry | None:
    """Append an entry unless its key exists (None then). A concurrent transaction holding
    the same key makes this wait until it ends, so duplicates never both proceed."""
    row = await conn.fetchrow(
        "INSERT INTO ledger (account_id, amount_micro_usd, kind, reference, idempotency_key) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING "
        f"RETURNING {LEDGER_COLS}",
        account_id,
        amount,
        kind.value,
        reference,
        key,
    )
    return None if row is None else to_ledger(row)


async def _by_key(conn: asyncpg.Connection, key: str) -> LedgerEntry | None:
    row = await conn.fetchrow(f"SELECT {LEDGER_COLS} FROM ledger WHERE idempotency_key = $1", key)
    return None if row is None else to_ledger(row)


# -- credits and the ledger ---------------------------------------------------------------


async def credit(
    conn: asyncpg.Connection, account_id: str, amount: int, kind: LedgerKind, reason: str, key: str
) -> LedgerEntry:
    """Apply a topup/adjustment once per idempotency key (replays return the original).

    The entry claims the key first; then one statement checks and moves the balance.
    """
    async with conn.transaction():
        entry = await _claimappend_entry(conn, account_id, amount, kind, reason, key)
        if entry is not None:
            row = await conn.fetchrow(
                "UPDATE accounts SET balance_micro_usd = balance_micro_usd + $1 "
                "WHERE id = $2 AND balance_micro_usd + $1 >= 0 RETURNING id",
                amount,
                account_id,
            )
            if row is None:
                await ensure_account(conn, account_id)
                raise InsufficientFunds(f"balance of {account_id} cannot cover {-amount}")
            return entry
    existing = await _by_key(conn, key)
    if existing is None or (existing.account_id, existing.amount_micro_usd, existing.kind) != (
        account_id,
        amount,
        kind,
    ):
        raise Conflict(f"idempotency key {key!r} was used for a different credit")
    return existing


async def ledger_entries(
    conn: asyncpg.Connection, account_id: str, limit: int
) -> list[LedgerEntry]:
    """Newest first."""
    rows = await conn.fetch(
        f"SELECT {LEDGER_COLS} FROM ledger WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        account_id,
        limit,
    )
    if not rows:
        await ensure_account(conn, account_id)
    return [to_ledger(r) for r in rows]


async def ledger_sum(conn: asyncpg.Connection, account_id: str) -> LedgerSum:
    """Sums per balance; UnknownAccount if absent."""
    row = await conn.fetchrow(
        "SELECT coalesce(sum(l.amount_micro_usd) "
        f"  FILTER (WHERE l.kind NOT IN {_EARNING_KINDS}), 0)::bigint AS balance, "
        f"coalesce(sum(l.amount_micro_usd) FILTER (WHERE l.kind IN {_EARNING_KINDS}), 0)"
        "  ::bigint AS earnings "
        "FROM accounts a LEFT JOIN ledger l ON l.account_id = a.id WHERE a.id = $1 GROUP BY a.id",
        account_id,
    )
    if row is None:
        raise UnknownAccount(f"unknown account {account_id!r}")
    return LedgerSum(row["balance"], row["earnings"])


async def ledger_mismatches(conn: asyncpg.Connection) -> list[str]:
    """Accounts whose balances disagree with their ledger."""
    rows = await conn.fetch(
        "SELECT a.id FROM accounts a LEFT JOIN ("
        "  SELECT account_id,"
        f"   sum(amount_micro_usd) FILTER (WHERE kind NOT IN {_EARNING_KINDS}) AS balance,"
        f"   sum(amount_micro_usd) FILTER (WHERE kind IN {_EARNING_KINDS}) AS earnings"
        "  FROM ledger GROUP BY account_id) l ON l.account_id = a.id "
        "WHERE a.balance_micro_usd <> coalesce(l.balance, 0) "
        "   OR a.earnings_micro_usd <> coalesce(l.earnings, 0) ORDER BY a.id"
    )
    return [r["id"] for r in rows]


# -- holds --------------------------------------------------------------------------------


async def _hold(conn: asyncpg.Connection, request_id: str, lock: bool = False) -> HoldRecord | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {HOLD_COLS} FROM holds WHERE request_id = $1{suffix}", request_id
    )
    return None if row is None else to_hold(row)


def _replay_hold(existing: HoldRecord, account_id: str, amount: int) -> HoldRecord:
    if (existing.account_id, existing.amount_micro_usd) != (account_id, amount):
        raise Conflict(f"request {existing.request_id!r} already holds a different amount")
    return existing


async def get_hold(conn: asyncpg.Connection, request_id: str) -> HoldRecord | None:
    """The hold, or None."""
    return await _hold(conn, request_id)


async def create_hold(
    conn: asyncpg.Connection,
    account_id: str,
    request_id: str,
    amount: int,
    key: str,
    replica_id: str | None = None,
) -> HoldRecord:
    """Debit into an open hold; replays for the same request return the existing hold.

    The hold row claims the request id first (a concurrent duplicate waits, then replays),
    then the ledger entry claims its key, then one statement checks and debits.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO holds (request_id, account_id, amount_micro_usd, replica_id) "
            f"VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING RETURNING {HOLD_COLS}",
            request_id,
            account_id,
            amount,
            replica_id,
        )
        if row is not None:
            await append_entry(conn, account_id, -amount, LedgerKind.HOLD, request_id, key)
            await debit(conn, "balance_micro_usd", account_id, amount)
            return to_hold(row)
    existing = await _hold(conn, request_id)
    if existing is None:
        raise Conflict(f"request {request_id!r} is being held concurrently; retry")
    return _replay_hold(existing, account_id, amount)


async def credit_accounts(conn: asyncpg.Connection, moves: dict[str, tuple[int, int]]) -> None:
    """Add (balance, earnings) deltas (never negative) to accounts, locking in id order."""
    for account_id in sorted(moves):
        balance, earnings = moves[account_id]
        row = await conn.fetchrow(
            "UPDATE accounts SET balance_micro_usd = balance_micro_usd + $1, "
            "earnings_micro_usd = earnings_micro_usd + $2 WHERE id = $3 RETURNING id",
            balance,
            earnings,
            account_id,
        )
        if row is None:
            raise UnknownAccount(f"unknown account {account_id!r}")


async def settle_hold(
    conn: asyncpg.Connection,
    request_id: str,
    cost: int,
    provider: str | None,
    earning: int,
    usage: UsageRecord | None,
) -> HoldOutcome:
    """Charge, release the rest, pay the provider owner and write the usage row, once."""
    async with conn.transaction():
        hold = await _hold(conn, request_id, lock=True)
        if hold is None:
            raise UnknownHold(f"no hold for request {request_id!r}")
        if hold.status is not HoldStatus.OPEN:
            return HoldOutcome(hold, already_closed=True)
        if cost > hold.amount_micro_usd:
            raise InvalidInput(
                f"actual cost {cost} exceeds the hold of {hold.amount_micro_usd} micro-USD"
            )
        moves = {hold.account_id: (hold.amount_micro_usd - cost, 0)}
        if provider is not None:
            balance, earnings = moves.get(provider, (0, 0))
            moves[provider] = (balance, earnings + earning)
        await credit_accounts(conn, moves)
        keys = v.hold_keys(request_id)
        account = hold.account_id
        await append_entry(
            conn, account, hold.amount_micro_usd, LedgerKind.RELEASE, request_id, keys["release"]
        )
        await append_entry(conn, account, -cost, LedgerKind.SETTLE, request_id, keys["settle"])
        if provider is not None and earning:
            await append_entry(
                conn, provider, earning, LedgerKind.EARNING, request_id, keys["earning"]
            )
        row = await conn.fetchrow(
            "UPDATE holds SET status = 'settled', closed_at = now(), charged_micro_usd = $2, "
            "provider_account_id = $3, provider_earning_micro_usd = $4 "
            f"WHERE request_id = $1 RETURNING {HOLD_COLS}",
            request_id,
            cost,
            provider,
            earning,
        )
        await _close_usage(conn, hold, usage, cost)
        return HoldOutcome(to_hold(row), already_closed=False)


async def release_hold(
    conn: asyncpg.Connection, request_id: str, usage: UsageRecord | None
) -> HoldOutcome:
    """Return the whole hold and write the usage row (cost 0), exactly once."""
    async with conn.transaction():
        hold = await _hold(conn, request_id, lock=True)
        if hold is None:
            raise UnknownHold(f"no hold for request {request_id!r}")
        if hold.status is not HoldStatus.OPEN:
            return HoldOutcome(hold, already_closed=True)
        await credit_accounts(conn, {hold.account_id: (hold.amount_micro_usd, 0)})
        key = v.hold_keys(request_id)["release"]
        await append_entry(
            conn, hold.account_id, hold.amount_micro_usd, LedgerKind.RELEASE, request_id, key
        )
        row = await conn.fetchrow(
            "UPDATE holds SET status = 'released', closed_at = now(), charged_micro_usd = 0 "
            f"WHERE request_id = $1 RETURNING {HOLD_COLS}",
            request_id,
        )
        await _close_usage(conn, hold, usage, 0)
        return HoldOutcome(to_hold(row), already_closed=False)


async def _close_usage(
    conn: asyncpg.Connection, hold: HoldRecord, usage: UsageRecord | None, cost: int
) -> None:
    """Write a closing hold's usage row in its transaction, with what was really charged."""
    if usage is not None:
        row = dataclasses.replace(usage, account_id=hold.account_id, cost_micro_usd=cost)
        await insert_usage(conn, [row])


async def list_open_holds(conn: asyncpg.Connection) -> list[HoldRecord]:
    """Oldest first."""
    rows = await conn.fetch(
        f"SELECT {HOLD_COLS} FROM holds WHERE status = 'open' ORDER BY created_at, request_id"
    )
    return [to_hold(r) for r in rows]


async def count_open_holds(conn: asyncpg.Connection, account_id: str) -> int:
    """Open holds of one account."""
    count = await conn.fetchval(
        "SELECT count(*) FROM holds WHERE account_id = $1 AND status = 'open'", account_id
    )
    if not count:
        await ensure_account(conn, account_id)
    return int(count)
