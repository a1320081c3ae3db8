"""The Store contract: one `typing.Protocol` per domain, composed into `Store`.

Conventions shared by every method (both stores obey them; the conformance suite checks):
- money is integer micro-USD; amounts are validated (`InvalidInput` on bad type/sign/range);
- `get_*` returns None when the object is absent; every other method raises a `NotFound`
  subclass (`UnknownAccount`, `UnknownHold`, ...) for an unknown id;
- money moves only inside one transaction that checks the balance in the same statement
  that changes it; an `idempotency_key` replayed with the same arguments returns the
  original result without moving money again, and with different arguments raises `Conflict`;
- only `StoreError` subclasses escape; methods are trio-flavoured `async def`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .activity import ActivityStore
from .device_codes import DeviceCodeStore
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
from .replica_holds import ReplicaHoldStore
from .selfservice import SelfServiceStore
from .stored_responses import StoredResponseStore


class AccountStore(Protocol):
    """Accounts: id ("acct_…"), name (1..200 chars), balance and earnings."""

    async def create_account(self, name: str) -> Account:
        """Create an account with zero balance and zero earnings."""

    async def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""

    async def list_accounts(self) -> list[Account]:
        """All accounts, oldest first."""


class ApiKeyStore(Protocol):
    """Consumer API keys (`sk-sy-…`), stored as SHA-256 hash plus a 12-char display prefix."""

    async def create_api_key(
        self, account_id: str, name: str, raw_key: str | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key; returns (record, raw key). The raw key is never retrievable again.

        `raw_key` lets a caller choose the key (`sk-sy-` + at least 8 of [A-Za-z0-9_-]),
        as `switchyard dev --api-key` does; a key already in use raises `Conflict`."""

    async def lookup_api_key(self, raw_key: str) -> ApiKeyRecord | None:
        """The key presented by a client, or None if unknown, malformed or revoked."""

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke (idempotent: revoking twice keeps the first revocation time)."""

    async def list_api_keys(self, account_id: str) -> list[ApiKeyRecord]:
        """An account's keys, revoked ones included, oldest first."""

    async def set_api_key_limits(self, key_id: str, limits: KeyLimits) -> KeyLimits:
        """Set a key's rate limits (each > 0 or None for the default); unknown key: NotFound."""

    async def get_api_key_limits(self, key_id: str) -> KeyLimits:
        """A key's rate limits (all None when never set)."""

    async def touch_api_key(self, key_id: str) -> None:
        """Set the key's last-used time to now."""


class LedgerStore(Protocol):
    """The append-only ledger and direct credits (topups and admin adjustments)."""

    async def credit(
        self,
        account_id: str,
        amount_micro_usd: int,
        kind: LedgerKind | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> LedgerEntry:
        """Move the balance by a signed amount with a ledger entry of kind topup (> 0) or
        adjustment (!= 0). A negative adjustment that would take the balance below zero
        raises `InsufficientFunds`. Without a key, one is generated (no replay protection)."""

    async def ledger_entries(self, account_id: str, limit: int = 100) -> list[LedgerEntry]:
        """An account's most recent entries, newest first."""

    async def ledger_sum(self, account_id: str) -> LedgerSum:
        """Sums of the account's entries per balance (must equal the account's balances)."""

    async def ledger_mismatches(self) -> list[str]:
        """Ids of accounts whose balances differ from their ledger sums (empty when sound)."""


class HoldStore(Protocol):
    """Holds of a request's maximum cost; each closes exactly once (settled or released).

    Ledger entries per hold (all referencing the request id): `hold` -amount when created;
    on release, `release` +amount; on settlement, `release` +amount and `settle` -actual
    on the consumer, plus `earning` +earning on the provider owner's earnings balance.
    """

    async def create_hold(
        self,
        account_id: str,
        request_id: str,
        amount_micro_usd: int,
        idempotency_key: str | None = None,
        replica_id: str | None = None,
    ) -> HoldRecord:
        """Debit `amount` (>= 0) into an open hold, checking the balance in the same
        statement; `InsufficientFunds` when it cannot cover it. Repeating the call for the
        same request id with the same account and amount returns the existing hold.
        `replica_id` names the cluster replica responsible for the hold (None: no cluster)."""

    async def get_hold(self, request_id: str) -> HoldRecord | None:
        """The hold for a request, or None."""

    async def settle_hold(
        self,
        request_id: str,
        actual_cost_micro_usd: int,
        provider_account_id: str | None = None,
        provider_earning_micro_usd: int = 0,
        usage: UsageRecord | None = None,
    ) -> HoldOutcome:
        """Charge the actual cost (<= the hold, else `InvalidInput`), return the remainder,
        credit the provider owner's earnings (<= actual cost) and insert `usage` (its
        request id must be the hold's; it is stored with the hold's account and the actual
        cost), all in one transaction: a crash keeps both or neither.
        A hold already closed is left alone and reported with `already_closed=True`."""

    async def release_hold(self, request_id: str, usage: UsageRecord | None = None) -> HoldOutcome:
        """Return the whole hold to the balance and insert `usage` (cost 0) in the same
        transaction (no-op with `already_closed` if closed)."""

    async def list_open_holds(self) -> list[HoldRecord]:
        """Every open hold, oldest first (start-up recovery releases these)."""

    async def count_open_holds(self, account_id: str) -> int:
        """How many holds of the account are open."""


class UsageStore(Protocol):
    """Per-request usage rows: written with their hold's settlement (see `HoldStore`), or
    on their own in batches."""

    async def record_usage(self, records: Sequence[UsageRecord]) -> None:
        """Insert a batch atomically (all rows or none; one statement on Postgres)."""

    async def recent_usage(self, account_id: str, limit: int = 50) -> list[UsageRecord]:
        """An account's most recent usage rows, newest first."""


class ProviderStore(Protocol):
    """Provider identities and the tokens (`pt-sy-…`, hashed) their agents log in with."""

    async def upsert_provider(
        self, provider_id: str, owner_account_id: str, public_key: str, trust: str
    ) -> ProviderRecord:
        """Create or update a provider (touching last seen). A provider id already owned
        by another account raises `Conflict`."""

    async def get_provider(self, provider_id: str) -> ProviderRecord | None:
        """The provider, or None."""

    async def list_providers(self) -> list[ProviderRecord]:
        """Every known provider, oldest first."""

    async def touch_provider(self, provider_id: str) -> None:
        """Set the provider's last-seen time to now."""

    async def create_provider_token(
        self, account_id: str, name: str
    ) -> tuple[ProviderTokenRecord, str]:
        """Create a token for a provider owner; returns (record, raw token) once."""

    async def lookup_provider_token(self, raw_token: str) -> ProviderTokenRecord | None:
        """The token presented by an agent, or None if unknown, malformed or revoked."""

    async def revoke_provider_token(self, token_id: str) -> ProviderTokenRecord:
        """Revoke (idempotent)."""

    async def list_provider_tokens(self, account_id: str) -> list[ProviderTokenRecord]:
        """An account's provider tokens, oldest first."""

    async def touch_provider_token(self, token_id: str) -> None:
        """Set the token's last-used time to now."""


class PricingStore(Protocol):
    """Models and their prices in micro-USD per million tokens."""

    async def set_pricing(
        self,
        model: str,
        input_micro_usd_per_mtok: int,
        output_micro_usd_per_mtok: int,
        context_length: int | None = None,
    ) -> Pricing:
        """Create or replace a model's price (prices >= 0, context length > 0 or None)."""

    async def get_pricing(self, model: str) -> Pricing | None:
        """The model's price, or None."""

    async def list_pricing(self) -> list[Pricing]:
        """Every priced model, by model id."""


class StripeStore(Protocol):
    """Stripe events processed, each Checkout Session crediting an account exactly once."""

    async def record_stripe_event(
        self, event_id: str, account_id: str, amount_micro_usd: int, session_id: str | None = None
    ) -> bool:
        """In one transaction: record the event and credit the account (ledger `topup`,
        idempotency key "stripe:" + event id). False if the event, or another event naming
        the same Checkout `session_id`, was already processed, including when a concurrent
        duplicate won the race."""


class PayoutStore(Protocol):
    """Payouts of provider owners' earnings."""

    async def create_payout(
        self, account_id: str, amount_micro_usd: int, idempotency_key: str
    ) -> PayoutRecord:
        """Debit earnings (`InsufficientFunds` if they cannot cover it) with ledger kind
        payout. Replaying the key with the same arguments returns the original payout."""

    async def list_payouts(self, account_id: str | None = None) -> list[PayoutRecord]:
        """Payouts (of one account, or all), oldest first."""


@runtime_checkable
class Store(
    AccountStore,
    ApiKeyStore,
    LedgerStore,
    HoldStore,
    UsageStore,
    ProviderStore,
    PricingStore,
    StripeStore,
    PayoutStore,
    StoredResponseStore,
    SelfServiceStore,
    ActivityStore,
    DeviceCodeStore,
    ReplicaHoldStore,
    Protocol,
):
    """Everything the coordinator persists. Obtain one with `open_store()`."""

    @property
    def kind(self) -> str:
        """ "memory" or "postgres"."""

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the backend answers (for readiness checks)."""
