"""PostgresStore: the durable Store, asyncpg called from trio through trio-asyncio.

`open_postgres_store()` owns everything asyncio: it enters its own
`trio_asyncio.open_loop()`, applies migrations on a dedicated connection (under the
advisory lock, see migrate.py), and creates an asyncpg pool bound to that loop. Every
method validates its arguments on the trio side, then runs one asyncio coroutine from
pg_money.py / pg_payments.py / pg_queries.py on a pooled connection via
`aio_as_trio(..., loop=loop)`, so callers need no asyncio context: plain trio tasks
anywhere in the program may call it concurrently while the store is open. Driver errors
are translated to StoreError (pg_rows.translate); deadlocks and serialization failures
are retried a few times.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import asyncpg
import trio
import trio_asyncio

from . import pg_money as money
from . import pg_payments as payments
from . import pg_queries as q
from . import validate as v
from .errors import StoreError, StoreUnavailable
from .keys import API_KEY_PREFIX, PROVIDER_TOKEN_PREFIX, new_id, plausible_secret
from .models import (
    Account,
    ApiKeyRecord,
    HoldOutcome,
    HoldRecord,
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
from .pg_activity import PgActivityMixin
from .pg_device_codes import PgDeviceCodesMixin
from .pg_replica_holds import PgReplicaHoldsMixin
from .pg_responses import PgResponsesMixin
from .pg_rows import RETRYABLE, translate
from .pg_selfservice import PgSelfServiceMixin

log = logging.getLogger(__name__)

T = TypeVar("T")
_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_ATTEMPTS = 3
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresStore(
    PgResponsesMixin, PgSelfServiceMixin, PgActivityMixin, PgDeviceCodesMixin, PgReplicaHoldsMixin
):
    """Store backed by PostgreSQL. Create it with `open_postgres_store` / `open_store`."""

    def __init__(
        self, loop: trio_asyncio.TrioEventLoop, pool: asyncpg.Pool, applied: list[int]
    ) -> None:
        self._loop = loop
        self._pool = pool
        self._closed = False
        self.applied_migrations = applied
        """Migration versions this instance applied at start-up (empty if up to date)."""

    @property
    def kind(self) -> str:
        """Always "postgres"."""
        return "postgres"

    async def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(conn, *args)` on a pooled connection inside the store's asyncio loop."""

        if self._closed:
            raise StoreUnavailable("the store is closed")

        async def job() -> T:
            async with self._pool.acquire() as conn:
                return await fn(conn, *args)

        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await trio_asyncio.aio_as_trio(job, loop=self._loop)()
            except StoreError:
                raise
            except RETRYABLE as exc:
                if attempt == _ATTEMPTS:
                    raise translate(exc) from exc
                log.info("retrying after %s (attempt %d)", type(exc).__name__, attempt)
            except _DRIVER_ERRORS as exc:
                raise translate(exc) from exc
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"))

    # -- accounts -----------------------------------------------------------------------------

    async def create_account(self, name: str) -> Account:
        return await self._run(q.create_account, v.name(name))

    async def get_account(self, account_id: str) -> Account | None:
        return await self._run(q.get_account, v.ident(account_id, "account_id"))

    async def list_accounts(self) -> list[Account]:
        return await self._run(q.list_accounts)

    # -- API keys -----------------------------------------------------------------------------

    async def create_api_key(
        self, account_id: str, name: str, raw_key: str | None = None
    ) -> tuple[ApiKeyRecord, str]:
        args = (v.ident(account_id, "account_id"), v.name(name), raw_key)
        return cast(tuple[ApiKeyRecord, str], await self._run(q.create_secret, q.API_KEYS, *args))

    async def lookup_api_key(self, raw_key: str) -> ApiKeyRecord | None:
        if not plausible_secret(raw_key, API_KEY_PREFIX):
            await trio.lowlevel.checkpoint()
            return None
        return cast(ApiKeyRecord | None, await self._run(q.lookup_secret, q.API_KEYS, raw_key))

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        key = v.ident(key_id, "key_id")
        return cast(ApiKeyRecord, await self._run(q.revoke_secret, q.API_KEYS, key))

    async def list_api_keys(self, account_id: str) -> list[ApiKeyRecord]:
        account = v.ident(account_id, "account_id")
        return await self._run(q.list_secrets, q.API_KEYS, account)

    async def touch_api_key(self, key_id: str) -> None:
        await self._run(q.touch_secret, q.API_KEYS, v.ident(key_id, "key_id"))

    async def set_api_key_limits(self, key_id: str, limits: KeyLimits) -> KeyLimits:
        key, checked = v.ident(key_id, "key_id"), v.key_limits(limits)
        return await self._run(q.set_key_limits, key, checked)

    async def get_api_key_limits(self, key_id: str) -> KeyLimits:
        return await self._run(q.get_key_limits, v.ident(key_id, "key_id"))

    # -- ledger -------------------------------------------------------------------------------

    async def credit(
        self,
        account_id: str,
        amount_micro_usd: int,
        kind: LedgerKind | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> LedgerEntry:
        parsed_kind = v.credit_kind(kind)
        amount = v.credit_amount(amount_micro_usd, parsed_kind)
        reference = v.text(reason, "reason")
        key = new_id("sy:credit") if idempotency_key is None else v.user_key(idempotency_key)
        account = v.ident(account_id, "account_id")
        return await self._run(money.credit, account, amount, parsed_kind, reference, key)

    async def ledger_entries(self, account_id: str, limit: int = 100) -> list[LedgerEntry]:
        account = v.ident(account_id, "account_id")
        return await self._run(money.ledger_entries, account, v.limit(limit))

    async def ledger_sum(self, account_id: str) -> LedgerSum:
        return await self._run(money.ledger_sum, v.ident(account_id, "account_id"))

    async def ledger_mismatches(self) -> list[str]:
        return await self._run(money.ledger_mismatches)

    # -- holds --------------------------------------------------------------------------------

    async def create_hold(
        self,
        account_id: str,
        request_id: str,
        amount_micro_usd: int,
        idempotency_key: str | None = None,
        replica_id: str | None = None,
    ) -> HoldRecord:
        request = v.ident(request_id, "request_id")
        amount = v.amount(amount_micro_usd, allow_zero=True)
        key = (
            v.hold_keys(request)["hold"] if idempotency_key is None else v.user_key(idempotency_key)
        )
        account = v.ident(account_id, "account_id")
        replica = v.optional_ident(replica_id, "replica_id")
        return await self._run(money.create_hold, account, request, amount, key, replica)

    async def get_hold(self, request_id: str) -> HoldRecord | None:
        return await self._run(money.get_hold, v.ident(request_id, "request_id"))

    async def settle_hold(
        self,
        request_id: str,
        actual_cost_micro_usd: int,
        provider_account_id: str | None = None,
        provider_earning_micro_usd: int = 0,
        usage: UsageRecord | None = None,
    ) -> HoldOutcome:
        cost, provider, earning = v.settlement(
            actual_cost_micro_usd, provider_account_id, provider_earning_micro_usd
        )
        request = v.ident(request_id, "request_id")
        row = v.closing_usage(usage, request)
        return await self._run(money.settle_hold, request, cost, provider, earning, row)

    async def release_hold(self, request_id: str, usage: UsageRecord | None = None) -> HoldOutcome:
        request = v.ident(request_id, "request_id")
        row = v.closing_usage(usage, request)
        return await self._run(money.release_hold, request, row)

    async def list_open_holds(self) -> list[HoldRecord]:
        return await self._run(money.list_open_holds)

    async def count_open_holds(self, account_id: str) -> int:
        return await self._run(money.count_open_holds, v.ident(account_id, "account_id"))

    # -- usage --------------------------------------------------------------------------------

    async def record_usage(self, records: Sequence[UsageRecord]) -> None:
        await self._run(q.record_usage, v.usage_batch(records))

    async def recent_usage(self, account_id: str, limit: int = 50) -> list[UsageRecord]:
        account = v.ident(account_id, "account_id")
        return await self._run(q.recent_usage, account, v.limit(limit))

    # -- providers and provider tokens --------------------------------------------------------

    async def upsert_provider(
        self, provider_id: str, owner_account_id: str, public_key: str, trust: str
    ) -> ProviderRecord:
        args = (
            v.ident(provider_id, "provider_id"),
            v.ident(owner_account_id, "owner_account_id"),
            v.text(public_key, "public_key"),
            v.ident(trust, "trust"),
        )
        return await self._run(q.upsert_provider, *args)

    async def get_provider(self, provider_id: str) -> ProviderRecord | None:
        return await self._run(q.get_provider, v.ident(provider_id, "provider_id"))

    async def list_providers(self) -> list[ProviderRecord]:
        return await self._run(q.list_providers)

    async def touch_provider(self, provider_id: str) -> None:
        await self._run(q.touch_provider, v.ident(provider_id, "provider_id"))

    async def create_provider_token(
        self, account_id: str, name: str
    ) -> tuple[ProviderTokenRecord, str]:
        args = (v.ident(account_id, "account_id"), v.name(name))
        result = await self._run(q.create_secret, q.PROVIDER_TOKENS, *args)
        return cast(tuple[ProviderTokenRecord, str], result)

    async def lookup_provider_token(self, raw_token: str) -> ProviderTokenRecord | None:
        if not plausible_secret(raw_token, PROVIDER_TOKEN_PREFIX):
            await trio.lowlevel.checkpoint()
            return None
        result = await self._run(q.lookup_secret, q.PROVIDER_TOKENS, raw_token)
        return cast(ProviderTokenRecord | None, result)

    async def revoke_provider_token(self, token_id: str) -> ProviderTokenRecord:
        token = v.ident(token_id, "token_id")
        return cast(ProviderTokenRecord, await self._run(q.revoke_secret, q.PROVIDER_TOKENS, token))

    async def list_provider_tokens(self, account_id: str) -> list[ProviderTokenRecord]:
        account = v.ident(account_id, "account_id")
        return await self._run(q.list_secrets, q.PROVIDER_TOKENS, account)

    async def touch_provider_token(self, token_id: str) -> None:
        await self._run(q.touch_secret, q.PROVIDER_TOKENS, v.ident(token_id, "token_id"))

    # -- pricing ------------------------------------------------------------------------------

    async def set_pricing(
        self,
        model: str,
        input_micro_usd_per_mtok: int,
        output_micro_usd_per_mtok: int,
        context_length: int | None = None,
    ) -> Pricing:
        args = (
            v.ident(model, "model"),
            v.amount(input_micro_usd_per_mtok, "input_micro_usd_per_mtok", allow_zero=True),
            v.amount(output_micro_usd_per_mtok, "output_micro_usd_per_mtok", allow_zero=True),
            v.context_length(context_length),
        )
        return await self._run(q.set_pricing, *args)

    async def get_pricing(self, model: str) -> Pricing | None:
        return await self._run(q.get_pricing, v.ident(model, "model"))

    async def list_pricing(self) -> list[Pricing]:
        return await self._run(q.list_pricing)

    # -- Stripe and payouts -------------------------------------------------------------------

    async def record_stripe_event(
        self, event_id: str, account_id: str, amount_micro_usd: int, session_id: str | None = None
    ) -> bool:
        args = (
            v.ident(event_id, "event_id"),
            v.ident(account_id, "account_id"),
            v.amount(amount_micro_usd),
            v.optional_ident(session_id, "session_id"),
        )
        return await self._run(payments.record_stripe_event, *args)

    async def create_payout(
        self, account_id: str, amount_micro_usd: int, idempotency_key: str
    ) -> PayoutRecord:
        args = (
            v.ident(account_id, "account_id"),
            v.amount(amount_micro_usd),
            v.user_key(idempotency_key),
        )
        return await self._run(payments.create_payout, *args)

    async def list_payouts(self, account_id: str | None = None) -> list[PayoutRecord]:
        account = v.optional_ident(account_id, "account_id")
        return await self._run(payments.list_payouts, account)
