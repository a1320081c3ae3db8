"""Versioned SQL migrations for PostgresStore, applied at start-up.

Migrations are the files `migrations/NNNN_name.sql` shipped in the package, applied in
version order, each in its own transaction together with its row in `schema_migrations`
(version, name, SHA-256 checksum, applied time). The whole run holds a Postgres advisory
lock keyed on the target schema, so two processes starting at once apply each version
exactly once: the second waits, then finds nothing left to do. A recorded migration whose
file has since changed is refused (`MigrationError`) rather than silently skipped.

`apply_migrations` is asyncio-flavoured (it takes an asyncpg connection); PostgresStore
calls it through trio-asyncio.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from .errors import MigrationError

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_SQL = "SELECT pg_advisory_lock(hashtext('switchyard.migrate:' || $1))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext('switchyard.migrate:' || $1))"
_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: version, name, SQL text and its SHA-256 checksum."""

    version: int
    name: str
    sql: str
    checksum: str


def load_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    folder = resources.files(__package__).joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_RE.match(entry.name)
        if match is None:
            continue
        sql = entry.read_text(encoding="utf-8")
        checksum = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        found.append(Migration(int(match.group(1)), match.group(2), sql, checksum))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return found


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (schema names come from configuration, not users)."""
    return '"' + name.replace('"', '""') + '"'


async def apply_migrations(
    conn: asyncpg.Connection, schema: str | None = None, migrations: list[Migration] | None = None
) -> list[int]:
    """Bring the schema up to date; returns the versions applied by this call.

    `schema`, when given, is created if missing and must be first on the connection's
    search_path (PostgresStore sets it through the pool's server settings).
    """
    pending = load_migrations() if migrations is None else migrations
    lock_key = schema if schema is not None else await conn.fetchval("SELECT current_schema()")
    lock_key = lock_key or ""
    await conn.execute(_LOCK_SQL, lock_key)
    try:
        if schema is not None:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        await conn.execute(_TABLE_SQL)
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        recorded = {row["version"]: row["checksum"] for row in rows}
        known = {m.version for m in pending}
        newer = sorted(set(recorded) - known)
        if newer:
            log.warning("database has migrations this code does not know: %s", newer)
        applied: list[int] = []
        for migration in pending:
            checksum = recorded.get(migration.version)
            if checksum is not None:
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} ({migration.name}) changed after "
                        "it was applied; add a new migration instead of editing it"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute(_UNLOCK_SQL, lock_key)
