"""Provider payouts: debit a provider owner's earnings in the ledger, then (optionally) pay
them out by Stripe Connect transfer under the same idempotency key.

Order matters: the ledger entry is written first (it checks and debits the earnings in one
transaction), then the transfer is made. If the transfer fails, the payout stays recorded
and `TransferFailed` says so; repeating the request with the same idempotency key replays
the ledger entry (no second debit) and retries the transfer, which Stripe deduplicates by
the same key — so a retry can never pay twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..storage.models import PayoutRecord
from ..storage.protocol import Store
from .stripe_gateway import (
    ACCOUNT_METADATA_KEY,
    MICRO_USD_PER_CENT,
    StripeGateway,
    StripeGatewayError,
    Transfer,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PayoutResult:
    """A recorded payout and, when one was asked for, its Stripe transfer."""

    payout: PayoutRecord
    transfer: Transfer | None


class TransferFailed(Exception):
    """The payout is recorded in the ledger but its Stripe transfer failed."""

    def __init__(self, payout: PayoutRecord, error: StripeGatewayError) -> None:
        super().__init__(error.message)
        self.payout = payout
        self.error = error


def transferable_cents(amount_micro_usd: int) -> int | None:
    """The amount in whole cents, or None when it is not a whole number of cents."""
    cents, rest = divmod(amount_micro_usd, MICRO_USD_PER_CENT)
    return None if rest else cents


async def pay_out(
    store: Store,
    account_id: str,
    amount_micro_usd: int,
    idempotency_key: str,
    *,
    gateway: StripeGateway | None = None,
    destination: str | None = None,
) -> PayoutResult:
    """Record the payout (store errors propagate: `InsufficientFunds`, `UnknownAccount`,
    `Conflict`), then transfer to `destination` through `gateway` when both are given."""
    cents = transferable_cents(amount_micro_usd) if destination else None
    if destination and cents is None:
        raise ValueError("a transferred payout must be a whole number of cents")
    payout = await store.create_payout(account_id, amount_micro_usd, idempotency_key)
    log.info("payout %s: %d micro-USD from %s", payout.id, amount_micro_usd, account_id)
    if gateway is None or destination is None or cents is None:
        return PayoutResult(payout, None)
    metadata = {ACCOUNT_METADATA_KEY: payout.account_id, "switchyard_payout_id": payout.id}
    try:
        transfer = await gateway.transfer(destination, cents, payout.idempotency_key, metadata)
    except StripeGatewayError as exc:
        log.error("payout %s recorded but its transfer failed: %s", payout.id, exc.message)
        raise TransferFailed(payout, exc) from exc
    log.info("payout %s transferred as %s to %s", payout.id, transfer.id, destination)
    return PayoutResult(payout, transfer)
