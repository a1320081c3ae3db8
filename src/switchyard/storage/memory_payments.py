"""MemoryStore parts: Stripe top-ups (once per event and per checkout session) and payouts.

Same rule as memory.py: a method awaits one checkpoint first, then never awaits again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from . import validate as v
from .errors import Conflict, InsufficientFunds
from .keys import new_id
from .models import Account, LedgerEntry, LedgerKind, PayoutRecord, utc_now


class MemoryPaymentsMixin:
    """Stripe events and payouts for MemoryStore (which supplies the state and the ledger)."""

    _stripe_events: set[str]
    _stripe_sessions: set[str]
    _payouts: list[PayoutRecord]
    _payouts_by_key: dict[str, PayoutRecord]

    if TYPE_CHECKING:  # supplied by MemoryStore (ledger writes) and MemoryProvidersMixin

        def _account(self, account_id: object, what: str = "account_id") -> Account: ...

        def _require_new_key(self, key: str) -> None: ...

        def _append(
            self, account_id: str, amount: int, kind: LedgerKind, reference: str, key: str
        ) -> LedgerEntry: ...

    async def record_stripe_event(
        self, event_id: str, account_id: str, amount_micro_usd: int, session_id: str | None = None
    ) -> bool:
        await trio.lowlevel.checkpoint()
        event = v.ident(event_id, "event_id")
        amount = v.amount(amount_micro_usd)
        session = v.optional_ident(session_id, "session_id")
        if event in self._stripe_events or session in self._stripe_sessions:
            return False
        account = self._account(account_id)
        key = v.stripe_key(event)
        self._require_new_key(key)
        self._stripe_events.add(event)
        if session is not None:
            self._stripe_sessions.add(session)
        self._append(account.id, amount, LedgerKind.TOPUP, f"stripe event {event}", key)
        return True

    async def create_payout(
        self, account_id: str, amount_micro_usd: int, idempotency_key: str
    ) -> PayoutRecord:
        await trio.lowlevel.checkpoint()
        amount = v.amount(amount_micro_usd)
        key = v.user_key(idempotency_key)
        account = self._account(account_id)
        existing = self._payouts_by_key.get(key)
        if existing is not None:
            if (existing.account_id, existing.amount_micro_usd) != (account.id, amount):
                raise Conflict(f"idempotency key {key!r} was used for a different payout")
            return existing
        self._require_new_key(key)
        if account.earnings_micro_usd < amount:
            raise InsufficientFunds(f"earnings of {account.id} cannot cover {amount} micro-USD")
        payout = PayoutRecord(new_id("po"), account.id, amount, key, utc_now())
        self._append(account.id, -amount, LedgerKind.PAYOUT, payout.id, key)
        self._payouts.append(payout)
        self._payouts_by_key[key] = payout
        return payout

    async def list_payouts(self, account_id: str | None = None) -> list[PayoutRecord]:
        await trio.lowlevel.checkpoint()
        if account_id is None:
            return list(self._payouts)
        account = self._account(account_id)
        return [p for p in self._payouts if p.account_id == account.id]
