"""Opening a PostgresStore: its own trio-asyncio loop, migrations, then a pool."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import trio
import trio_asyncio

from ..groups import sole_exception
from .errors import InvalidInput, StoreError
from .migrate import apply_migrations
from .pg_rows import translate
from .postgres_store import _DRIVER_ERRORS, _SCHEMA_RE, PostgresStore

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_postgres_store(
    database_url: str,
    *,
    schema: str | None = None,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = 10.0,
) -> AsyncIterator[PostgresStore]:
    """Open a PostgresStore: own asyncio loop, migrations, pool; all closed on exit.

    `schema`, when given, is created if missing and used as the pool's search_path
    (one schema per test run, or several deployments sharing one database). Exceptions
    leave this context manager as themselves, not wrapped in the exception groups of the
    trio-asyncio loop's internal nursery.
    """
    if schema is not None and not _SCHEMA_RE.match(schema):
        raise InvalidInput("schema must be a plain SQL identifier")
    settings = {"search_path": schema} if schema is not None else {}
    try:
        async with _running_store(
            database_url, schema, settings, min_size, max_size, connect_timeout
        ) as store:
            yield store
    except BaseExceptionGroup as group:
        sole = sole_exception(group)
        if sole is None:
            raise
        raise sole from sole.__cause__


@asynccontextmanager
async def _running_store(
    database_url: str,
    schema: str | None,
    settings: dict[str, str],
    min_size: int,
    max_size: int,
    connect_timeout: float,
) -> AsyncIterator[PostgresStore]:
    async with trio_asyncio.open_loop() as loop:

        async def start() -> tuple[asyncpg.Pool, list[int]]:
            conn = await asyncpg.connect(
                database_url, timeout=connect_timeout, server_settings=settings
            )
            try:
                applied = await apply_migrations(conn, schema)
            finally:
                await conn.close()
            pool = await asyncpg.create_pool(
                database_url,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout,
                server_settings=settings,
                # asyncpg re-arms an idle-close timer on every release; under trio-asyncio
                # cancelled timers are never dropped, so they pile up: keep connections.
                max_inactive_connection_lifetime=0,
            )
            return pool, applied

        try:
            pool, applied = await trio_asyncio.aio_as_trio(start, loop=loop)()
        except StoreError:
            raise
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        except ValueError as exc:
            raise InvalidInput(f"invalid database URL: {exc}") from exc
        log.info("postgres store ready (schema %s, migrations applied: %s)", schema, applied)
        store = PostgresStore(loop, pool, applied)
        try:
            yield store
        finally:
            store._closed = True
            closed = False
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                try:
                    await trio_asyncio.aio_as_trio(pool.close, loop=loop)()
                    closed = True
                except _DRIVER_ERRORS as exc:
                    log.warning("closing the postgres pool failed: %r", exc)
            if not closed:
                log.warning("postgres pool did not close cleanly; terminating connections")
                pool.terminate()
