"""MemoryStore: the embedded default Store, held in process memory.

Nothing survives a restart (a warning says so when it is created). Concurrency safety
without locks: every method starts with one trio checkpoint and then runs to completion
with no further await, so each method body is atomic with respect to other trio tasks.
Keep it that way: never add an await after the first line of a method. Every method also
validates all arguments and checks every condition before its first mutation, so a
failing call changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import trio

from . import validate as v
from .device_codes import DeviceCodeRecord
from .errors import (
    Conflict,
    InsufficientFunds,
    InvalidInput,
    UnknownApiKey,
    UnknownHold,
    UnknownProviderToken,
)
from .keys import API_KEY_PREFIX, PROVIDER_TOKEN_PREFIX, new_id
from .memory_activity import MemoryActivityMixin
from .memory_device_codes import MemoryDeviceCodesMixin
from .memory_payments import MemoryPaymentsMixin
from .memory_providers import MemoryProvidersMixin, SecretTable
from .memory_replica_holds import MemoryReplicaHoldsMixin
from .memory_responses import MemoryResponsesMixin
from .memory_selfservice import MemorySelfServiceMixin, new_account_keys
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
    utc_now,
)
from .selfservice import InviteCode, LoginRecord, SessionRecord
from .stored_responses import StoredResponse

log = logging.getLogger(__name__)


class MemoryStore(
    MemoryProvidersMixin,
    MemoryPaymentsMixin,
    MemoryResponsesMixin,
    MemorySelfServiceMixin,
    MemoryActivityMixin,
    MemoryDeviceCodesMixin,
    MemoryReplicaHoldsMixin,
):
    """In-memory Store: no set-up, nothing persisted. See the module docstring."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._api_keys = SecretTable(ApiKeyRecord, "key", API_KEY_PREFIX, UnknownApiKey)
        self._key_limits: dict[str, KeyLimits] = {}
        self._tokens = SecretTable(
            ProviderTokenRecord, "ptk", PROVIDER_TOKEN_PREFIX, UnknownProviderToken
        )
        self._providers: dict[str, ProviderRecord] = {}
        self._pricing: dict[str, Pricing] = {}
        self._ledger: dict[str, list[LedgerEntry]] = {}
        self._ledger_by_key: dict[str, LedgerEntry] = {}
        self._next_entry_id = 1
        self._holds: dict[str, HoldRecord] = {}
        self._replica_seen: dict[str, float] = {}
        self._usage: dict[str, list[UsageRecord]] = {}
        self._usage_by_provider: dict[str, list[UsageRecord]] = {}
        self._leaderboard: set[str] = set()  # provider ids opted in
        self._device_codes: dict[str, DeviceCodeRecord] = {}
        self._device_by_user_code: dict[str, str] = {}
        self._stripe_events: set[str] = set()
        self._stripe_sessions: set[str] = set()
        self._payouts: list[PayoutRecord] = []
        self._payouts_by_key: dict[str, PayoutRecord] = {}
        self._responses: dict[str, dict[str, StoredResponse]] = {}
        self._response_owners: dict[str, str] = {}
        self._invites: dict[str, InviteCode] = {}
        self._invite_by_hash: dict[str, str] = {}
        self._logins: dict[str, LoginRecord] = {}
        self._login_by_account: dict[str, str] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._session_hashes: dict[str, list[str]] = {}
        self._account_keys = new_account_keys()
        log.warning(
            "using the in-memory store: accounts, keys, balances and usage are lost when "
            "the process exits (set SWITCHYARD_DATABASE_URL to keep them in Postgres)"
        )

    @property
    def kind(self) -> str:
        """Always "memory"."""
        return "memory"

    async def ping(self) -> None:
        """Always answers."""
        await trio.lowlevel.checkpoint()

    # -- internal helpers (synchronous: they run inside a method's atomic section) ----------

    def _require_new_key(self, key: str) -> None:
        if key in self._ledger_by_key:
            raise Conflict(f"idempotency key {key!r} was already used")

    def _append(
        self, account_id: str, amount: int, kind: LedgerKind, reference: str, key: str
    ) -> LedgerEntry:
        """Record an entry and apply it to the matching balance (caller checked the floor)."""
        entry = LedgerEntry(
            self._next_entry_id, account_id, amount, kind, reference, key, utc_now()
        )
        self._next_entry_id += 1
        self._ledger.setdefault(account_id, []).append(entry)
        self._ledger_by_key[key] = entry
        account = self._accounts[account_id]
        if kind.moves_earnings:
            earnings = account.earnings_micro_usd + amount
            account = dataclasses.replace(account, earnings_micro_usd=earnings)
        else:
            balance = account.balance_micro_usd + amount
            account = dataclasses.replace(account, balance_micro_usd=balance)
        self._accounts[account_id] = account
        return entry

    # -- accounts -----------------------------------------------------------------------------

    async def create_account(self, name: str) -> Account:
        await trio.lowlevel.checkpoint()
        account = Account(new_id("acct"), v.name(name), 0, 0, utc_now())
        self._accounts[account.id] = account
        return account

    async def get_account(self, account_id: str) -> Account | None:
        await trio.lowlevel.checkpoint()
        return self._accounts.get(v.ident(account_id, "account_id"))

    async def list_accounts(self) -> list[Account]:
        await trio.lowlevel.checkpoint()
        return sorted(self._accounts.values(), key=lambda a: (a.created_at, a.id))

    # -- API keys -----------------------------------------------------------------------------

    async def create_api_key(
        self, account_id: str, name: str, raw_key: str | None = None
    ) -> tuple[ApiKeyRecord, str]:
        await trio.lowlevel.checkpoint()
        account = self._account(account_id)
        return self._api_keys.create(account.id, v.name(name), raw_key)

    async def lookup_api_key(self, raw_key: str) -> ApiKeyRecord | None:
        await trio.lowlevel.checkpoint()
        return self._api_keys.lookup(raw_key)

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        await trio.lowlevel.checkpoint()
        return self._api_keys.revoke(v.ident(key_id, "key_id"))

    async def list_api_keys(self, account_id: str) -> list[ApiKeyRecord]:
        await trio.lowlevel.checkpoint()
        return self._api_keys.list_for(self._account(account_id).id)

    async def touch_api_key(self, key_id: str) -> None:
        await trio.lowlevel.checkpoint()
        self._api_keys.touch(v.ident(key_id, "key_id"))

    async def set_api_key_limits(self, key_id: str, limits: KeyLimits) -> KeyLimits:
        await trio.lowlevel.checkpoint()
        record = self._api_keys.get(v.ident(key_id, "key_id"))
        self._key_limits[record.id] = v.key_limits(limits)
        return self._key_limits[record.id]

    async def get_api_key_limits(self, key_id: str) -> KeyLimits:
        await trio.lowlevel.checkpoint()
        return self._key_limits.get(v.ident(key_id, "key_id"), KeyLimits())

    # -- ledger -------------------------------------------------------------------------------

    async def credit(
        self,
        account_id: str,
        amount_micro_usd: int,
        kind: LedgerKind | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> LedgerEntry:
        await trio.lowlevel.checkpoint()
        parsed_kind = v.credit_kind(kind)
        amount = v.credit_amount(amount_micro_usd, parsed_kind)
        reference = v.text(reason, "reason")
        key = new_id("sy:credit") if idempotency_key is None else v.user_key(idempotency_key)
        account = self._account(account_id)
        existing = self._ledger_by_key.get(key)
        if existing is not None:
            same = (existing.account_id, existing.amount_micro_usd, existing.kind) == (
                account.id,
                amount,
                parsed_kind,
            )
            if not same:
                raise Conflict(f"idempotency key {key!r} was used for a different credit")
            return existing
        if account.balance_micro_usd + amount < 0:
            raise InsufficientFunds(f"balance of {account.id} cannot cover {-amount} micro-USD")
        return self._append(account.id, amount, parsed_kind, reference, key)

    async def ledger_entries(self, account_id: str, limit: int = 100) -> list[LedgerEntry]:
        await trio.lowlevel.checkpoint()
        count = v.limit(limit)
        entries = self._ledger.get(self._account(account_id).id, [])
        return list(reversed(entries[-count:]))

    async def ledger_sum(self, account_id: str) -> LedgerSum:
        await trio.lowlevel.checkpoint()
        return self._sum(self._account(account_id).id)

    def _sum(self, account_id: str) -> LedgerSum:
        entries = self._ledger.get(account_id, [])
        earnings = sum(e.amount_micro_usd for e in entries if e.kind.moves_earnings)
        balance = sum(e.amount_micro_usd for e in entries if not e.kind.moves_earnings)
        return LedgerSum(balance, earnings)

    async def ledger_mismatches(self) -> list[str]:
        await trio.lowlevel.checkpoint()
        return sorted(
            a.id
            for a in self._accounts.values()
            if self._sum(a.id) != LedgerSum(a.balance_micro_usd, a.earnings_micro_usd)
        )

    # -- holds --------------------------------------------------------------------------------

    async def create_hold(
        self,
        account_id: str,
        request_id: str,
        amount_micro_usd: int,
        idempotency_key: str | None = None,
        replica_id: str | None = None,
    ) -> HoldRecord:
        await trio.lowlevel.checkpoint()
        request = v.ident(request_id, "request_id")
        amount = v.amount(amount_micro_usd, allow_zero=True)
        keys = v.hold_keys(request)
        key = keys["hold"] if idempotency_key is None else v.user_key(idempotency_key)
        replica = v.optional_ident(replica_id, "replica_id")
        account = self._account(account_id)
        existing = self._holds.get(request)
        if existing is not None:
            if (existing.account_id, existing.amount_micro_usd) != (account.id, amount):
                raise Conflict(f"request {request!r} already holds a different amount")
            return existing
        self._require_new_key(key)
        if account.balance_micro_usd < amount:
            raise InsufficientFunds(f"balance of {account.id} cannot cover {amount} micro-USD")
        self._append(account.id, -amount, LedgerKind.HOLD, request, key)
        hold = HoldRecord(
            request, account.id, amount, HoldStatus.OPEN, utc_now(), None, None, None, 0, replica
        )
        self._holds[request] = hold
        return hold

    async def get_hold(self, request_id: str) -> HoldRecord | None:
        await trio.lowlevel.checkpoint()
        return self._holds.get(v.ident(request_id, "request_id"))

    def _open_hold(self, request_id: object) -> tuple[HoldRecord, HoldOutcome | None]:
        request = v.ident(request_id, "request_id")
        hold = self._holds.get(request)
        if hold is None:
            raise UnknownHold(f"no hold for request {request!r}")
        if hold.status is not HoldStatus.OPEN:
            return hold, HoldOutcome(hold, already_closed=True)
        return hold, None

    async def settle_hold(
        self,
        request_id: str,
        actual_cost_micro_usd: int,
        provider_account_id: str | None = None,
        provider_earning_micro_usd: int = 0,
        usage: UsageRecord | None = None,
    ) -> HoldOutcome:
        await trio.lowlevel.checkpoint()
        cost, provider, earning = v.settlement(
            actual_cost_micro_usd, provider_account_id, provider_earning_micro_usd
        )
        row = v.closing_usage(usage, v.ident(request_id, "request_id"))
        hold, closed = self._open_hold(request_id)
        if closed is not None:
            return closed
        if cost > hold.amount_micro_usd:
            raise InvalidInput(
                f"actual cost {cost} exceeds the hold of {hold.amount_micro_usd} micro-USD"
            )
        if provider is not None:
            self._account(provider, "provider_account_id")
        keys = v.hold_keys(hold.request_id)
        self._append(
            hold.account_id, hold.amount_micro_usd, LedgerKind.RELEASE, hold.request_id,
            keys["release"],
        )  # fmt: skip
        self._append(hold.account_id, -cost, LedgerKind.SETTLE, hold.request_id, keys["settle"])
        if provider is not None and earning:
            self._append(provider, earning, LedgerKind.EARNING, hold.request_id, keys["earning"])
        settled = dataclasses.replace(
            hold,
            status=HoldStatus.SETTLED,
            closed_at=utc_now(),
            charged_micro_usd=cost,
            provider_account_id=provider,
            provider_earning_micro_usd=earning,
        )
        self._holds[hold.request_id] = settled
        self._close_usage(hold, row, cost)
        return HoldOutcome(settled, already_closed=False)

    async def release_hold(self, request_id: str, usage: UsageRecord | None = None) -> HoldOutcome:
        await trio.lowlevel.checkpoint()
        row = v.closing_usage(usage, v.ident(request_id, "request_id"))
        hold, closed = self._open_hold(request_id)
        if closed is not None:
            return closed
        key = v.hold_keys(hold.request_id)["release"]
        self._append(
            hold.account_id, hold.amount_micro_usd, LedgerKind.RELEASE, hold.request_id, key
        )
        released = dataclasses.replace(
            hold, status=HoldStatus.RELEASED, closed_at=utc_now(), charged_micro_usd=0
        )
        self._holds[hold.request_id] = released
        self._close_usage(hold, row, 0)
        return HoldOutcome(released, already_closed=False)

    def _close_usage(self, hold: HoldRecord, usage: UsageRecord | None, cost: int) -> None:
        """Record a closing hold's usage row with what was really charged."""
        if usage is not None:
            row = dataclasses.replace(usage, account_id=hold.account_id, cost_micro_usd=cost)
            self._add_usage(row)

    def _add_usage(self, row: UsageRecord) -> None:
        """Keep a usage row, listed under its account and (if any) its provider."""
        self._usage.setdefault(row.account_id, []).append(row)
        if row.provider_id is not None:
            self._usage_by_provider.setdefault(row.provider_id, []).append(row)

    async def list_open_holds(self) -> list[HoldRecord]:
        await trio.lowlevel.checkpoint()
        open_holds = (h for h in self._holds.values() if h.status is HoldStatus.OPEN)
        return sorted(open_holds, key=lambda h: (h.created_at, h.request_id))

    async def count_open_holds(self, account_id: str) -> int:
        await trio.lowlevel.checkpoint()
        account = self._account(account_id)
        return sum(
            1
            for h in self._holds.values()
            if h.account_id == account.id and h.status is HoldStatus.OPEN
        )

    # -- usage --------------------------------------------------------------------------------

    async def record_usage(self, records: Sequence[UsageRecord]) -> None:
        await trio.lowlevel.checkpoint()
        batch = v.usage_batch(records)
        for record in batch:
            self._account(record.account_id)
        for record in batch:
            self._add_usage(record)

    async def recent_usage(self, account_id: str, limit: int = 50) -> list[UsageRecord]:
        await trio.lowlevel.checkpoint()
        count = v.limit(limit)
        rows = self._usage.get(self._account(account_id).id, [])
        return sorted(rows, key=lambda r: r.created_at, reverse=True)[:count]
