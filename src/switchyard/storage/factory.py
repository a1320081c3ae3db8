"""`open_store(database_url)`: the one way the rest of Switchyard obtains a Store.

    async with open_store(settings.database_url) as store:   # None -> MemoryStore
        account = await store.create_account("demo")

A URL (postgresql://user@host:5432/db) opens a PostgresStore: its own trio-asyncio loop,
migrations applied under an advisory lock, a connection pool; everything is closed when
the block exits. None or "" gives the in-memory store (which warns that nothing survives a
restart). `memory://` is accepted as an explicit spelling of the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .errors import InvalidInput
from .memory import MemoryStore
from .pg_open import open_postgres_store
from .protocol import Store

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@asynccontextmanager
async def open_store(
    database_url: str | None,
    *,
    schema: str | None = None,
    min_size: int = 1,
    max_size: int = 10,
) -> AsyncIterator[Store]:
    """Yield a ready Store for `database_url` (see the module docstring).

    `schema` (Postgres only) selects a schema, created if missing, via the pool's
    search_path; `min_size`/`max_size` size the connection pool. A URL of another scheme
    raises `InvalidInput`; an unreachable server raises `StoreUnavailable`.
    """
    if not database_url or database_url == "memory://":
        yield MemoryStore()
        return
    if not database_url.startswith(_POSTGRES_SCHEMES):
        raise InvalidInput("database URL must start with postgresql:// (or be empty for memory)")
    async with open_postgres_store(
        database_url, schema=schema, min_size=min_size, max_size=max_size
    ) as store:
        yield store
