"""Postgres-only behaviour: migrations (repeat, concurrent, tampered), secrets stored only
as hashes, use from trio tasks outside the store's context, and use after close."""

from __future__ import annotations

import dataclasses
import hashlib

import asyncpg
import pytest
import trio
import trio_asyncio

from switchyard.storage import (
    MigrationError,
    PostgresStore,
    StoreUnavailable,
    open_store,
)
from switchyard.storage.migrate import apply_migrations, load_migrations

from .helpers import assert_balanced, balance, funded, pg_fetch

pytestmark = pytest.mark.postgres

ALL_VERSIONS = [m.version for m in load_migrations()]


async def _schema_snapshot(url: str, schema: str) -> list[tuple[str, ...]]:
    """Columns, indexes and recorded migrations of a schema, as sortable text."""
    columns = await pg_fetch(
        url,
        schema,
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        f"FROM information_schema.columns WHERE table_schema = '{schema}' "
        "ORDER BY table_name, ordinal_position",
    )
    indexes = await pg_fetch(
        url, schema, f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = '{schema}'"
    )
    migrations = await pg_fetch(
        url, schema, "SELECT version, name, checksum FROM schema_migrations"
    )
    return sorted(tuple(map(str, r)) for r in [*columns, *indexes, *migrations])


async def test_migrations_run_twice_change_nothing(pg_url: str, pg_schema: str) -> None:
    async with open_store(pg_url, schema=pg_schema) as store:
        assert isinstance(store, PostgresStore)
        assert store.applied_migrations == ALL_VERSIONS
    before = await _schema_snapshot(pg_url, pg_schema)
    async with open_store(pg_url, schema=pg_schema) as store:
        assert isinstance(store, PostgresStore)
        assert store.applied_migrations == []
    assert await _schema_snapshot(pg_url, pg_schema) == before
    assert sum(1 for r in before if r[0] in {str(v) for v in ALL_VERSIONS}) == len(ALL_VERSIONS)


async def test_concurrent_start_ups_apply_each_migration_once(pg_url: str, pg_schema: str) -> None:
    applied: list[int] = []

    async def start_up() -> None:
        async with open_store(pg_url, schema=pg_schema) as store:
            assert isinstance(store, PostgresStore)
            applied.extend(store.applied_migrations)
            await store.create_account("started")

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(start_up)

    assert sorted(applied) == ALL_VERSIONS
    rows = await pg_fetch(pg_url, pg_schema, "SELECT version FROM schema_migrations")
    assert sorted(r["version"] for r in rows) == ALL_VERSIONS
    accounts = await pg_fetch(pg_url, pg_schema, "SELECT count(*) AS n FROM accounts")
    assert accounts[0]["n"] == 4


async def test_missing_schema_is_created(pg_url: str, pg_schema: str) -> None:
    fresh = f"{pg_schema}_new"
    try:
        async with open_store(pg_url, schema=fresh) as store:
            account = await store.create_account("in a new schema")
        rows = await pg_fetch(pg_url, fresh, "SELECT id FROM accounts")
        assert [r["id"] for r in rows] == [account.id]
    finally:
        await pg_fetch(pg_url, pg_schema, f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')


async def test_edited_migration_is_refused(pg_url: str, pg_schema: str) -> None:
    tampered = [dataclasses.replace(m, checksum="0" * 64) for m in load_migrations()]

    async def run() -> None:
        conn = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
        try:
            assert await apply_migrations(conn, pg_schema) == ALL_VERSIONS
            with pytest.raises(MigrationError):
                await apply_migrations(conn, pg_schema, tampered)
            assert await apply_migrations(conn, pg_schema) == []
        finally:
            await conn.close()

    async with trio_asyncio.open_loop() as loop:
        await trio_asyncio.aio_as_trio(run, loop=loop)()
    # the advisory lock was released: a store still starts
    async with open_store(pg_url, schema=pg_schema) as store:
        await store.ping()


async def test_raw_secrets_appear_nowhere_in_the_database(pg_url: str, pg_schema: str) -> None:
    async with open_store(pg_url, schema=pg_schema) as store:
        owner = await funded(store, "owner", 1_000)
        key, raw_key = await store.create_api_key(owner.id, "ci key")
        token, raw_token = await store.create_provider_token(owner.id, "gpu box")
        assert await store.lookup_api_key(raw_key) == key
        assert await store.lookup_provider_token(raw_token) == token
        await store.touch_api_key(key.id)
        await store.revoke_provider_token(token.id)

    tables = await pg_fetch(
        pg_url,
        pg_schema,
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{pg_schema}'",
    )
    dump = []
    for table in (r["table_name"] for r in tables):
        rows = await pg_fetch(pg_url, pg_schema, f'SELECT t::text AS row FROM "{table}" t')
        dump.extend(r["row"] for r in rows)
    text = "\n".join(dump)
    for raw in (raw_key, raw_token):
        assert raw not in text
        assert raw[12:] not in text  # not even the secret part past the display prefix
        assert hashlib.sha256(raw.encode()).hexdigest() in text
    assert key.prefix in text and token.prefix in text


async def test_callers_outside_the_store_context_and_after_close(
    pg_url: str, pg_schema: str
) -> None:
    """Trio tasks with no trio-asyncio context (spawned in a nursery that encloses the
    store) can call it while it is open; after close, calls fail with StoreUnavailable."""
    finished = trio.Event()
    done: list[int] = []
    async with trio.open_nursery() as outer:
        async with open_store(pg_url, schema=pg_schema, max_size=3) as store:
            account = await funded(store, "shared", 0)

            async def worker(n: int) -> None:
                await store.credit(account.id, 10, "topup", "worker", f"worker-{n}")
                done.append(n)
                if len(done) == 30:
                    finished.set()

            for n in range(30):
                outer.start_soon(worker, n)
            await finished.wait()
            assert await balance(store, account.id) == (300, 0)
            await assert_balanced(store)
    with pytest.raises(StoreUnavailable):
        await store.get_account(account.id)


async def test_body_exceptions_propagate_unwrapped(pg_url: str, pg_schema: str) -> None:
    with pytest.raises(KeyError):
        async with open_store(pg_url, schema=pg_schema):
            raise KeyError("from the body")
