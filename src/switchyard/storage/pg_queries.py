"""PostgresStore non-money queries: accounts, hashed secrets, providers, pricing, usage.

Asyncio-flavoured coroutines taking an asyncpg connection and validated arguments;
PostgresStore runs them through trio-asyncio. Secret tables ("api_keys", "provider_tokens")
share one set of functions parametrised by `SecretTable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from .errors import Conflict, NotFound, UnknownApiKey, UnknownProvider, UnknownProviderToken
from .keys import (
    API_KEY_PREFIX,
    PROVIDER_TOKEN_PREFIX,
    chosen_secret,
    display_prefix,
    hash_secret,
    new_id,
    new_secret,
)
from .models import Account, KeyLimits, Pricing, ProviderRecord, UsageRecord
from .pg_money import ensure_account
from .pg_rows import (
    ACCOUNT_COLS,
    PRICING_COLS,
    PROVIDER_COLS,
    SECRET_COLS,
    USAGE_COLS,
    insert_usage,
    to_account,
    to_api_key,
    to_pricing,
    to_provider,
    to_provider_token,
    to_usage,
)


@dataclass(frozen=True, slots=True)
class SecretTable:
    """Where and how one kind of hashed secret is stored."""

    table: str
    hash_column: str
    id_prefix: str
    secret_prefix: str
    convert: Callable[[asyncpg.Record], object]
    missing: type[NotFound]


API_KEYS = SecretTable("api_keys", "key_hash", "key", API_KEY_PREFIX, to_api_key, UnknownApiKey)
PROVIDER_TOKENS = SecretTable(
    "provider_tokens",
    "token_hash",
    "ptk",
    PROVIDER_TOKEN_PREFIX,
    to_provider_token,
    UnknownProviderToken,
)


# -- accounts -----------------------------------------------------------------------------


async def create_account(conn: asyncpg.Connection, name: str) -> Account:
    """Insert a zero-balance account."""
    row = await conn.fetchrow(
        f"INSERT INTO accounts (id, name) VALUES ($1, $2) RETURNING {ACCOUNT_COLS}",
        new_id("acct"),
        name,
    )
    return to_account(row)


async def get_account(conn: asyncpg.Connection, account_id: str) -> Account | None:
    """The account, or None."""
    row = await conn.fetchrow(f"SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1", account_id)
    return None if row is None else to_account(row)


async def list_accounts(conn: asyncpg.Connection) -> list[Account]:
    """Oldest first."""
    rows = await conn.fetch(f"SELECT {ACCOUNT_COLS} FROM accounts ORDER BY created_at, id")
    return [to_account(r) for r in rows]


# -- hashed secrets -----------------------------------------------------------------------


async def create_secret(
    conn: asyncpg.Connection,
    kind: SecretTable,
    account_id: str,
    name: str,
    raw: str | None = None,
) -> tuple[object, str]:
    """Mint a secret (or take a chosen one); only its hash and display prefix are stored."""
    raw = new_secret(kind.secret_prefix) if raw is None else chosen_secret(raw, kind.secret_prefix)
    row = await conn.fetchrow(
        f"INSERT INTO {kind.table} (id, account_id, name, {kind.hash_column}, prefix) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {SECRET_COLS}",
        new_id(kind.id_prefix),
        account_id,
        name,
        hash_secret(raw),
        display_prefix(raw),
    )
    return kind.convert(row), raw


async def lookup_secret(conn: asyncpg.Connection, kind: SecretTable, raw: str) -> object | None:
    """The live record for a presented secret, or None."""
    row = await conn.fetchrow(
        f"SELECT {SECRET_COLS} FROM {kind.table} "
        f"WHERE {kind.hash_column} = $1 AND revoked_at IS NULL",
        hash_secret(raw),
    )
    return None if row is None else kind.convert(row)


async def revoke_secret(conn: asyncpg.Connection, kind: SecretTable, record_id: str) -> object:
    """Revoke, keeping the first revocation time."""
    row = await conn.fetchrow(
        f"UPDATE {kind.table} SET revoked_at = coalesce(revoked_at, now()) "
        f"WHERE id = $1 RETURNING {SECRET_COLS}",
        record_id,
    )
    if row is None:
        raise kind.missing(f"unknown id {record_id!r}")
    return kind.convert(row)


async def rename_secret(
    conn: asyncpg.Connection, kind: SecretTable, record_id: str, name: str
) -> object:
    """Give the record a new name (revoked or not)."""
    row = await conn.fetchrow(
        f"UPDATE {kind.table} SET name = $2 WHERE id = $1 RETURNING {SECRET_COLS}",
        record_id,
        name,
    )
    if row is None:
        raise kind.missing(f"unknown id {record_id!r}")
    return kind.convert(row)


async def touch_secret(conn: asyncpg.Connection, kind: SecretTable, record_id: str) -> None:
    """Set last used to now."""
    status = await conn.execute(
        f"UPDATE {kind.table} SET last_used_at = now() WHERE id = $1", record_id
    )
    if status == "UPDATE 0":
        raise kind.missing(f"unknown id {record_id!r}")


async def list_secrets(conn: asyncpg.Connection, kind: SecretTable, account_id: str) -> list:
    """An account's records, oldest first."""
    rows = await conn.fetch(
        f"SELECT {SECRET_COLS} FROM {kind.table} WHERE account_id = $1 ORDER BY created_at, id",
        account_id,
    )
    if not rows:
        await ensure_account(conn, account_id)
    return [kind.convert(r) for r in rows]


# -- providers ----------------------------------------------------------------------------


async def upsert_provider(
    conn: asyncpg.Connection, provider_id: str, owner: str, public_key: str, trust: str
) -> ProviderRecord:
    """Insert or update; Conflict when the id belongs to another owner."""
    row = await conn.fetchrow(
        "INSERT INTO providers (id, owner_account_id, public_key, trust) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (id) DO UPDATE SET public_key = EXCLUDED.public_key, "
        "trust = EXCLUDED.trust, last_seen_at = now() "
        f"WHERE providers.owner_account_id = EXCLUDED.owner_account_id RETURNING {PROVIDER_COLS}",
        provider_id,
        owner,
        public_key,
        trust,
    )
    if row is None:
        raise Conflict(f"provider {provider_id!r} belongs to another account")
    return to_provider(row)


async def get_provider(conn: asyncpg.Connection, provider_id: str) -> ProviderRecord | None:
    """The provider, or None."""
    row = await conn.fetchrow(f"SELECT {PROVIDER_COLS} FROM providers WHERE id = $1", provider_id)
    return None if row is None else to_provider(row)


async def list_providers(conn: asyncpg.Connection) -> list[ProviderRecord]:
    """Oldest first."""
    rows = await conn.fetch(f"SELECT {PROVIDER_COLS} FROM providers ORDER BY created_at, id")
    return [to_provider(r) for r in rows]


async def touch_provider(conn: asyncpg.Connection, provider_id: str) -> None:
    """Set last seen to now."""
    status = await conn.execute(
        "UPDATE providers SET last_seen_at = now() WHERE id = $1", provider_id
    )
    if status == "UPDATE 0":
        raise UnknownProvider(f"unknown provider {provider_id!r}")


# -- pricing ------------------------------------------------------------------------------


async def set_pricing(
    conn: asyncpg.Connection, model: str, price_in: int, price_out: int, context: int | None
) -> Pricing:
    """Insert or replace a model's price."""
    row = await conn.fetchrow(
        "INSERT INTO pricing (model, input_micro_usd_per_mtok, output_micro_usd_per_mtok, "
        "context_length) VALUES ($1, $2, $3, $4) ON CONFLICT (model) DO UPDATE SET "
        "input_micro_usd_per_mtok = EXCLUDED.input_micro_usd_per_mtok, "
        "output_micro_usd_per_mtok = EXCLUDED.output_micro_usd_per_mtok, "
        f"context_length = EXCLUDED.context_length, updated_at = now() RETURNING {PRICING_COLS}",
        model,
        price_in,
        price_out,
        context,
    )
    return to_pricing(row)


async def get_pricing(conn: asyncpg.Connection, model: str) -> Pricing | None:
    """The price, or None."""
    row = await conn.fetchrow(f"SELECT {PRICING_COLS} FROM pricing WHERE model = $1", model)
    return None if row is None else to_pricing(row)


async def list_pricing(conn: asyncpg.Connection) -> list[Pricing]:
    """By model id."""
    rows = await conn.fetch(f"SELECT {PRICING_COLS} FROM pricing ORDER BY model")
    return [to_pricing(r) for r in rows]


# -- usage --------------------------------------------------------------------------------


async def record_usage(conn: asyncpg.Connection, records: Sequence[UsageRecord]) -> None:
    """One INSERT ... SELECT FROM unnest(...) for the whole batch."""
    await insert_usage(conn, records)


async def recent_usage(conn: asyncpg.Connection, account_id: str, limit: int) -> list[UsageRecord]:
    """Newest first."""
    rows = await conn.fetch(
        f"SELECT {USAGE_COLS} FROM usage_records WHERE account_id = $1 "
        "ORDER BY created_at DESC, id DESC LIMIT $2",
        account_id,
        limit,
    )
    if not rows:
        await ensure_account(conn, account_id)
    return [to_usage(r) for r in rows]


async def set_key_limits(conn: asyncpg.Connection, key_id: str, limits: KeyLimits) -> KeyLimits:
    """Upsert a key's rate limits; NotFound for an unknown key."""
    if await conn.fetchval("SELECT 1 FROM api_keys WHERE id = $1", key_id) is None:
        raise UnknownApiKey(f"unknown API key {key_id!r}")
    await conn.execute(
        "INSERT INTO api_key_limits (key_id, rpm, tpm) VALUES ($1, $2, $3) "
        "ON CONFLICT (key_id) DO UPDATE SET rpm = $2, tpm = $3, updated_at = now()",
        key_id,
        limits.rpm,
        limits.tpm,
    )
    return limits


async def get_key_limits(conn: asyncpg.Connection, key_id: str) -> KeyLimits:
    """A key's rate limits (defaults when unset)."""
    row = await conn.fetchrow("SELECT rpm, tpm FROM api_key_limits WHERE key_id = $1", key_id)
    return KeyLimits() if row is None else KeyLimits(row["rpm"], row["tpm"])
