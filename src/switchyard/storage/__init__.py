"""Storage: the Store protocol and its two implementations (README, "Storage").

Contract
  protocol.py         Store = per-domain Protocols (accounts, keys, ledger, holds, usage,
                      providers + tokens, pricing, Stripe events, payouts); shared rules
  stored_responses.py StoredResponse and StoredResponseStore (/v1/responses `store`)
  models.py           frozen dataclass records (Account, HoldRecord, LedgerEntry, ...)
  errors.py           StoreError and its typed subclasses; the only exceptions raised
  validate.py         argument checks shared by both stores; reserved idempotency keys
  keys.py             object ids, raw secrets (sk-sy-/pt-sy-), SHA-256 hashing
  factory.py          open_store(database_url): async context manager yielding a Store
  timed.py            TimedStore: wraps a Store, reports each call's latency (metrics)
  selfservice.py      SelfServiceStore: invite codes, logins (passphrase change), sessions,
                      management keys, key renames; its records and errors
  activity.py         ActivityStore: usage per day, earnings per node and day, open holds,
                      nodes, public totals, leaderboard opt-ins
  device_codes.py     DeviceCodeStore: device codes that link provider agents (RFC 8628)
  replica_holds.py    ReplicaHoldStore: replica liveness, atomic adoption of gone replicas' holds

In memory (embedded default, nothing survives a restart)
  memory.py           MemoryStore: accounts, API keys, ledger, holds, usage
  memory_providers.py SecretTable (hashed secrets), providers, provider tokens, pricing
  memory_payments.py  Stripe events (once per event and session), payouts
  memory_responses.py stored responses: per account, expiry, oldest evicted past the bounds
  memory_selfservice.py  invite codes, sign-up, logins, sessions, management keys, renames
  memory_activity.py  the self-service reports (per-account and per-provider usage lists)
  memory_device_codes.py  device codes
  memory_replica_holds.py  replica liveness and hold adoption (monotonic clock)

PostgreSQL (asyncpg through trio-asyncio)
  postgres_store.py   PostgresStore: every Store method as a pooled asyncpg call
  pg_open.py          open_postgres_store: its trio-asyncio loop, migrations, the pool
  pg_money.py         money transactions: credits, holds, settlement + its usage row
  pg_payments.py      Stripe events (once per event and session), payouts
  pg_responses.py     stored responses (table stored_responses), eviction in one statement
  pg_selfservice.py   invite codes, sign-up, logins, sessions, management keys, renames
  pg_activity.py      the self-service reports, one indexed query each
  pg_device_codes.py  device codes (a poll mints at most one provider token)
  pg_replica_holds.py replica heartbeats (database clock), hold adoption in one UPDATE
  pg_queries.py       accounts, hashed secrets, providers, pricing, batched usage
  pg_rows.py          column lists, row converters, the usage insert, error translation
  migrate.py          versioned migrations under an advisory lock
  migrations/*.sql    NNNN_name.sql schema migrations (applied once each, in order;
                      0005 adds holds.replica_id and replica_heartbeats)
"""

from .errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    MigrationError,
    NotFound,
    StoreError,
    StoreUnavailable,
    UnknownAccount,
    UnknownApiKey,
    UnknownHold,
    UnknownProvider,
    UnknownProviderToken,
)
from .factory import open_store
from .memory import MemoryStore
from .models import (
    Account,
    ApiKeyRecord,
    HoldOutcome,
    HoldRecord,
    HoldStatus,
    KeyLimits,
    LedgerEntry,
    LedgerKind,
    LedgerSum,
    PayoutRecord,
    Pricing,
    ProviderRecord,
    ProviderTokenRecord,
    UsageRecord,
)
from .postgres_store import PostgresStore
from .protocol import Store

__all__ = [
    "Account",
    "ApiKeyRecord",
    "Conflict",
    "HoldOutcome",
    "HoldRecord",
    "HoldStatus",
    "InsufficientFunds",
    "InvalidInput",
    "KeyLimits",
    "LedgerEntry",
    "LedgerKind",
    "LedgerSum",
    "MemoryStore",
    "MigrationError",
    "NotFound",
    "PayoutRecord",
    "PostgresStore",
    "Pricing",
    "ProviderRecord",
    "ProviderTokenRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UnknownAccount",
    "UnknownApiKey",
    "UnknownHold",
    "UnknownProvider",
    "UnknownProviderToken",
    "UsageRecord",
    "open_store",
]
