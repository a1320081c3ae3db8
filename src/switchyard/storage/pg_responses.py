"""PostgresStore part: stored responses (`StoredResponseStore`) in `stored_responses`.

The methods validate on the trio side and run one asyncio coroutine each through the
store's `_run`; the JSON goes in as text cast to jsonb and comes back as text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from . import validate as v
from .errors import Conflict, UnknownAccount
from .stored_responses import StoredResponse, check_record, dump_json

T = TypeVar("T")

_COLS = "id, account_id, conversation::text, response::text, created_at, expires_at"

# Newest first, the account's responses beyond max_count of them or max_bytes in total.
_EVICT = """
DELETE FROM stored_responses WHERE id IN (
    SELECT id FROM (
        SELECT id,
               row_number() OVER w AS n,
               sum(size_bytes) OVER w AS running
        FROM stored_responses WHERE account_id = $1
        WINDOW w AS (ORDER BY created_at DESC, seq DESC)
    ) ranked WHERE n > $2 OR running > $3
)
"""


def _record(row: asyncpg.Record) -> StoredResponse:
    return StoredResponse(
        id=row["id"],
        account_id=row["account_id"],
        conversation=json.loads(row["conversation"]),
        response=json.loads(row["response"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


async def _put(conn: asyncpg.Connection, record: StoredResponse, count: int, size: int) -> None:
    conversation, response = dump_json(record.conversation), dump_json(record.response)
    async with conn.transaction():
        if await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", record.account_id) is None:
            raise UnknownAccount(f"unknown account {record.account_id}")
        inserted = await conn.fetchval(
            "INSERT INTO stored_responses (id, account_id, conversation, response, size_bytes, "
            "created_at, expires_at) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            record.id,
            record.account_id,
            conversation.decode(),
            response.decode(),
            len(conversation) + len(response),
            record.created_at,
            record.expires_at,
        )
        if inserted is None:
            raise Conflict(f"response {record.id} already exists")
        await conn.execute(
            "DELETE FROM stored_responses WHERE account_id = $1 AND expires_at <= now()",
            record.account_id,
        )
        await conn.execute(_EVICT, record.account_id, count, size)


async def _get(conn: asyncpg.Connection, account_id: str, rid: str) -> StoredResponse | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS}, expires_at <= now() AS expired FROM stored_responses "
        "WHERE id = $1 AND account_id = $2",
        rid,
        account_id,
    )
    if row is None:
        return None
    if row["expired"]:
        await conn.execute("DELETE FROM stored_responses WHERE id = $1", rid)
        return None
    return _record(row)


async def _delete(conn: asyncpg.Connection, account_id: str, rid: str) -> bool:
    expired = await conn.fetchval(
        "DELETE FROM stored_responses WHERE id = $1 AND account_id = $2 "
        "RETURNING expires_at <= now()",
        rid,
        account_id,
    )
    return expired is False


async def _purge(conn: asyncpg.Connection) -> int:
    status = await conn.execute("DELETE FROM stored_responses WHERE expires_at <= now()")
    return int(status.split()[-1])


class PgResponsesMixin:
    """Stored responses for PostgresStore (which supplies `_run`)."""

    if TYPE_CHECKING:

        async def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T: ...

    async def put_response(self, record: StoredResponse, *, max_count: int, max_bytes: int) -> None:
        check_record(record, max_count, max_bytes)
        await self._run(_put, record, max_count, max_bytes)

    async def get_response(self, account_id: str, response_id: str) -> StoredResponse | None:
        account, rid = v.ident(account_id, "account_id"), v.ident(response_id, "response_id")
        return await self._run(_get, account, rid)

    async def delete_response(self, account_id: str, response_id: str) -> bool:
        account, rid = v.ident(account_id, "account_id"), v.ident(response_id, "response_id")
        return await self._run(_delete, account, rid)

    async def purge_expired_responses(self) -> int:
        return await self._run(_purge)
