"""MemoryStore parts: hashed-secret tables (API keys, provider tokens), providers, pricing.

Same rule as memory.py: a method awaits one checkpoint first, then never awaits again.
"""

from __future__ import annotations

import dataclasses
from typing import Generic, TypeVar

import trio

from . import validate as v
from .errors import (
    Conflict,
    NotFound,
    UnknownAccount,
    UnknownProvider,
)
from .keys import (
    chosen_secret,
    display_prefix,
    hash_secret,
    new_id,
    new_secret,
    plausible_secret,
)
from .models import Account, ApiKeyRecord, Pricing, ProviderRecord, ProviderTokenRecord, utc_now

R = TypeVar("R", ApiKeyRecord, ProviderTokenRecord)


class SecretTable(Generic[R]):
    """Records of raw secrets kept only as SHA-256 hashes, indexed by id and by hash."""

    def __init__(
        self, record_type: type[R], id_prefix: str, secret_prefix: str, missing: type[NotFound]
    ) -> None:
        self._type: type[R] = record_type
        self._id_prefix = id_prefix
        self._secret_prefix = secret_prefix
        self._missing = missing
        self._by_id: dict[str, R] = {}
        self._id_by_hash: dict[str, str] = {}

    def create(self, account_id: str, name: str, raw: str | None = None) -> tuple[R, str]:
        """Mint a secret (or take a chosen one) for an account; returns (record, raw)."""
        if raw is None:
            raw = new_secret(self._secret_prefix)
        else:
            raw = chosen_secret(raw, self._secret_prefix)
            if hash_secret(raw) in self._id_by_hash:
                raise Conflict("that key is already in use")
        record = self._type(
            new_id(self._id_prefix), account_id, name, display_prefix(raw), utc_now(), None, None
        )
        self._by_id[record.id] = record
        self._id_by_hash[hash_secret(raw)] = record.id
        return record, raw

    def lookup(self, raw: object) -> R | None:
        """The live record for a presented secret, else None."""
        if not plausible_secret(raw, self._secret_prefix):
            return None
        assert isinstance(raw, str)
        record_id = self._id_by_hash.get(hash_secret(raw))
        record = None if record_id is None else self._by_id[record_id]
        return None if record is None or record.revoked else record

    def _get(self, record_id: str) -> R:
        record = self._by_id.get(record_id)
        if record is None:
            raise self._missing(f"unknown id {record_id!r}")
        return record

    def get(self, record_id: str) -> R:
        """The record (revoked or not); the table's NotFound error if unknown."""
        return self._get(record_id)

    def revoke(self, record_id: str) -> R:
        """Mark revoked (keeping the first revocation time)."""
        record = self._get(record_id)
        if not record.revoked:
            record = dataclasses.replace(record, revoked_at=utc_now())
            self._by_id[record_id] = record
        return record

    def rename(self, record_id: str, name: str) -> R:
        """Give the record a new name (revoked or not)."""
        record = dataclasses.replace(self._get(record_id), name=name)
        self._by_id[record_id] = record
        return record

    def touch(self, record_id: str) -> None:
        """Set last used to now."""
        self._by_id[record_id] = dataclasses.replace(self._get(record_id), last_used_at=utc_now())

    def list_for(self, account_id: str) -> list[R]:
        """An account's records, oldest first."""
        mine = (r for r in self._by_id.values() if r.account_id == account_id)
        return sorted(mine, key=lambda r: (r.created_at, r.id))


class MemoryProvidersMixin:
    """Providers, provider tokens and pricing for MemoryStore (which supplies the state)."""

    _accounts: dict[str, Account]
    _tokens: SecretTable[ProviderTokenRecord]
    _providers: dict[str, ProviderRecord]
    _pricing: dict[str, Pricing]

    def _account(self, account_id: object, what: str = "account_id") -> Account:
        key = v.ident(account_id, what)
        account = self._accounts.get(key)
        if account is None:
            raise UnknownAccount(f"unknown account {key!r}")
        return account

    # -- providers ----------------------------------------------------------------------------

    async def upsert_provider(
        self, provider_id: str, owner_account_id: str, public_key: str, trust: str
    ) -> ProviderRecord:
        await trio.lowlevel.checkpoint()
        pid = v.ident(provider_id, "provider_id")
        key = v.text(public_key, "public_key")
        level = v.ident(trust, "trust")
        owner = self._account(owner_account_id, "owner_account_id")
        now = utc_now()
        existing = self._providers.get(pid)
        if existing is None:
            record = ProviderRecord(pid, owner.id, key, level, now, now)
        elif existing.owner_account_id != owner.id:
            raise Conflict(f"provider {pid!r} belongs to another account")
        else:
            record = dataclasses.replace(existing, public_key=key, trust=level, last_seen_at=now)
        self._providers[pid] = record
        return record

    async def get_provider(self, provider_id: str) -> ProviderRecord | None:
        await trio.lowlevel.checkpoint()
        return self._providers.get(v.ident(provider_id, "provider_id"))

    async def list_providers(self) -> list[ProviderRecord]:
        await trio.lowlevel.checkpoint()
        return sorted(self._providers.values(), key=lambda p: (p.created_at, p.id))

    async def touch_provider(self, provider_id: str) -> None:
        await trio.lowlevel.checkpoint()
        pid = v.ident(provider_id, "provider_id")
        record = self._providers.get(pid)
        if record is None:
            raise UnknownProvider(f"unknown provider {pid!r}")
        self._providers[pid] = dataclasses.replace(record, last_seen_at=utc_now())

    # -- provider tokens ----------------------------------------------------------------------

    async def create_provider_token(
        self, account_id: str, name: str
    ) -> tuple[ProviderTokenRecord, str]:
        await trio.lowlevel.checkpoint()
        account = self._account(account_id)
        return self._tokens.create(account.id, v.name(name))

    async def lookup_provider_token(self, raw_token: str) -> ProviderTokenRecord | None:
        await trio.lowlevel.checkpoint()
        return self._tokens.lookup(raw_token)

    async def revoke_provider_token(self, token_id: str) -> ProviderTokenRecord:
        await trio.lowlevel.checkpoint()
        return self._tokens.revoke(v.ident(token_id, "token_id"))

    async def list_provider_tokens(self, account_id: str) -> list[ProviderTokenRecord]:
        await trio.lowlevel.checkpoint()
        return self._tokens.list_for(self._account(account_id).id)

    async def touch_provider_token(self, token_id: str) -> None:
        await trio.lowlevel.checkpoint()
        self._tokens.touch(v.ident(token_id, "token_id"))

    # -- pricing ------------------------------------------------------------------------------

    async def set_pricing(
        self,
        model: str,
        input_micro_usd_per_mtok: int,
        output_micro_usd_per_mtok: int,
        context_length: int | None = None,
    ) -> Pricing:
        await trio.lowlevel.checkpoint()
        price = Pricing(
            v.ident(model, "model"),
            v.amount(input_micro_usd_per_mtok, "input_micro_usd_per_mtok", allow_zero=True),
            v.amount(output_micro_usd_per_mtok, "output_micro_usd_per_mtok", allow_zero=True),
            v.context_length(context_length),
            utc_now(),
        )
        self._pricing[price.model] = price
        return price

    async def get_pricing(self, model: str) -> Pricing | None:
        await trio.lowlevel.checkpoint()
        return self._pricing.get(v.ident(model, "model"))

    async def list_pricing(self) -> list[Pricing]:
        await trio.lowlevel.checkpoint()
        return [self._pricing[m] for m in sorted(self._pricing)]
