"""Shared fixtures for tests that need PostgreSQL (any suite may use them).

- `pg_url` (session): SWITCHYARD_TEST_DATABASE_URL, default
  postgresql://postgres@127.0.0.1:5432/test. When the server cannot be reached the test is
  skipped with the reason, except under CI=true, where it fails.
- `pg_schema`: a fresh, empty schema in that database, dropped (CASCADE) after the test.
  Open a store on it with `open_store(pg_url, schema=pg_schema)` so runs never collide.

Both are synchronous (plain asyncio inside), so parametrised fixtures can pull them in with
`request.getfixturevalue`. Mark tests that use them `@pytest.mark.postgres`.
- `store_target`: runs a test on both stores; it is (database URL, schema) for
  `open_store`, with (None, None) meaning the memory store.

For cluster tests (tests/cluster/replicas.py starts real replicas on them):
- `nats_url` (session): SWITCHYARD_TEST_NATS_URL, default nats://127.0.0.1:4222 (a NATS
  with JetStream). Unreachable: skipped with the reason, except under CI=true (fails).
- `cluster_name`: a fresh cluster name (NATS subject and KV namespace) per test, so
  concurrent runs on the one server never see each other.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _run_sql(url: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of a reachable test database (skip, or fail under CI=true, when unreachable)."""
    url = os.environ.get("SWITCHYARD_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    try:
        _run_sql(url, "SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL unreachable at {url} ({type(exc).__name__}: {exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; Postgres tests must run when CI=true")
        pytest.skip(f"{reason}; set SWITCHYARD_TEST_DATABASE_URL to run Postgres tests")
    return url


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name (created empty), dropped with everything in it afterwards."""
    name = f"test_{secrets.token_hex(6)}"
    # An SDK client an earlier test left to the garbage collector schedules its close on
    # whatever asyncio loop is running when it is collected: inside a Postgres test that
    # is trio-asyncio's, where that close cannot run and the test hangs. Collect garbage
    # here, with no loop running, before and after every Postgres test.
    gc.collect()
    _run_sql(pg_url, f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        gc.collect()
        _run_sql(pg_url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    """(database URL, schema) for `open_store`; (None, None) is the memory store.

    Resolved synchronously, before the trio test starts (the Postgres fixtures use asyncio).
    """
    if request.param == "memory":
        return None, None
    return request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")


DEFAULT_TEST_NATS_URL = "nats://127.0.0.1:4222"


def nats_reachable(url: str) -> str | None:
    """None if a NATS server answers at `url` with its INFO line, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 3) as s:
            s.settimeout(3)
            first = s.recv(5)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if first.startswith(b"INFO") else f"unexpected greeting {first!r}"


@pytest.fixture(scope="session")
def nats_url() -> str:
    """URL of a reachable NATS (skip, or fail under CI=true, when unreachable)."""
    url = os.environ.get("SWITCHYARD_TEST_NATS_URL", DEFAULT_TEST_NATS_URL)
    problem = nats_reachable(url)
    if problem is not None:
        reason = f"NATS unreachable at {url} ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; NATS tests must run when CI=true")
        pytest.skip(f"{reason}; set SWITCHYARD_TEST_NATS_URL to run NATS tests")
    return url


@pytest.fixture
def cluster_name() -> str:
    """A cluster name no other test (or concurrent test run) uses."""
    return f"t{secrets.token_hex(6)}"
