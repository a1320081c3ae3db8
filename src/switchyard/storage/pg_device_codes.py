"""PostgresStore parts: device codes (storage/device_codes.py); a poll that finds its code
approved mints the provider token and marks the code used in one transaction, the row
locked, so concurrent polls yield one token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

import asyncpg
import trio

from . import pg_queries as q
from . import validate as v
from .device_codes import (
    DEVICE_CODE_PREFIX,
    SLOW_DOWN_STEP_S,
    DeviceCodeRecord,
    DeviceCodeRefused,
    DevicePoll,
    PollStatus,
    TooManyDeviceCodes,
    poll_outcome,
)
from .errors import Conflict
from .keys import hash_secret, new_id, new_secret, plausible_secret
from .pg_money import ensure_account

DEVICE_COLS = (
    "id, user_code, name, interval_s, created_at, expires_at, polled_at, approved_by, "
    "decided_at, denied, token_id, consumed_at"
)


def _record(row: asyncpg.Record) -> DeviceCodeRecord:
    return DeviceCodeRecord(**dict(row))


async def create_device_code(
    conn: asyncpg.Connection,
    name: str,
    user_code: str,
    expires_at: datetime,
    interval_s: int,
    max_pending: int,
) -> tuple[DeviceCodeRecord, str]:
    raw = new_secret(DEVICE_CODE_PREFIX)
    async with conn.transaction():
        await conn.execute("DELETE FROM device_codes WHERE expires_at <= now() - interval '1 day'")
        pending = await conn.fetchval(
            "SELECT count(*) FROM device_codes WHERE expires_at > now() AND decided_at IS NULL"
        )
        if pending >= max_pending:
            raise TooManyDeviceCodes("too many device codes are pending")
        row = await conn.fetchrow(
            "INSERT INTO device_codes (id, device_hash, user_code, name, interval_s, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_code) DO NOTHING "
            f"RETURNING {DEVICE_COLS}",
            new_id("dev"),
            hash_secret(raw),
            user_code,
            name,
            interval_s,
            expires_at,
        )
        if row is None:
            raise Conflict("that user code is in use")
    return _record(row), raw


async def get_device_code(conn: asyncpg.Connection, user_code: str) -> DeviceCodeRecord | None:
    row = await conn.fetchrow(
        f"SELECT {DEVICE_COLS} FROM device_codes WHERE user_code = $1", user_code
    )
    return None if row is None else _record(row)


async def decide_device_code(
    conn: asyncpg.Connection, user_code: str, account_id: str, approve: bool, now: datetime
) -> DeviceCodeRecord:
    async with conn.transaction():
        await ensure_account(conn, account_id)
        row = await conn.fetchrow(
            f"SELECT {DEVICE_COLS} FROM device_codes WHERE user_code = $1 FOR UPDATE", user_code
        )
        if row is None:
            raise DeviceCodeRefused("unknown code")
        record = _record(row)
        if record.expires_at <= now:
            raise DeviceCodeRefused("this code has expired")
        if record.decided_at is not None:
            raise DeviceCodeRefused("this code was already used")
        row = await conn.fetchrow(
            "UPDATE device_codes SET approved_by = $2, denied = $3, decided_at = now() "
            f"WHERE id = $1 RETURNING {DEVICE_COLS}",
            record.id,
            account_id if approve else None,
            not approve,
        )
    return _record(row)


async def poll_device_code(conn: asyncpg.Connection, device_hash: str, now: datetime) -> DevicePoll:
    async with conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {DEVICE_COLS} FROM device_codes WHERE device_hash = $1 FOR UPDATE",
            device_hash,
        )
        if row is None:
            return DevicePoll(PollStatus.UNKNOWN)
        record = _record(row)
        status = poll_outcome(record, now)
        if status in (PollStatus.USED, PollStatus.DENIED, PollStatus.EXPIRED):
            return DevicePoll(status, record)
        if status in (PollStatus.SLOW_DOWN, PollStatus.PENDING):
            step = SLOW_DOWN_STEP_S if status is PollStatus.SLOW_DOWN else 0
            row = await conn.fetchrow(
                "UPDATE device_codes SET polled_at = $2, interval_s = interval_s + $3 "
                f"WHERE id = $1 RETURNING {DEVICE_COLS}",
                record.id,
                now,
                step,
            )
            return DevicePoll(status, _record(row))
        assert record.approved_by is not None  # APPROVED: decided by an account
        token, raw = await q.create_secret(conn, q.PROVIDER_TOKENS, record.approved_by, record.name)
        row = await conn.fetchrow(
            "UPDATE device_codes SET polled_at = $2, token_id = $3, consumed_at = now() "
            f"WHERE id = $1 RETURNING {DEVICE_COLS}",
            record.id,
            now,
            token.id,  # type: ignore[attr-defined]
        )
        return DevicePoll(PollStatus.APPROVED, _record(row), raw)


class PgDeviceCodesMixin:
    """The device-code methods of PostgresStore (which supplies `_run`)."""

    _run: Callable[..., Awaitable[Any]]

    async def create_device_code(
        self, name: str, user_code: str, expires_at: datetime, interval_s: int, max_pending: int
    ) -> tuple[DeviceCodeRecord, str]:
        args = (
            v.name(name),
            v.ident(user_code, "user_code"),
            v.timestamp(expires_at, "expires_at"),
            v.integer(interval_s, "interval_s", low=1, high=3600),
            v.integer(max_pending, "max_pending", low=1, high=10**7),
        )
        return cast(tuple[DeviceCodeRecord, str], await self._run(create_device_code, *args))

    async def get_device_code(self, user_code: str) -> DeviceCodeRecord | None:
        code = v.ident(user_code, "user_code")
        return cast(DeviceCodeRecord | None, await self._run(get_device_code, code))

    async def decide_device_code(
        self, user_code: str, account_id: str, approve: bool, now: datetime
    ) -> DeviceCodeRecord:
        args = (
            v.ident(user_code, "user_code"),
            v.ident(account_id, "account_id"),
            bool(approve),
            v.timestamp(now, "now"),
        )
        return cast(DeviceCodeRecord, await self._run(decide_device_code, *args))

    async def poll_device_code(self, raw_device_code: str, now: datetime) -> DevicePoll:
        at = v.timestamp(now, "now")
        if not plausible_secret(raw_device_code, DEVICE_CODE_PREFIX):
            await trio.lowlevel.checkpoint()
            return DevicePoll(PollStatus.UNKNOWN)
        return cast(DevicePoll, await self._run(poll_device_code, hash_secret(raw_device_code), at))
