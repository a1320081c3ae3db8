"""Admin payouts of provider owners' earnings (admin key required, like every /admin route).

- `POST /admin/accounts/{id}/payout` `{"amount_micro_usd", "destination"?, "idempotency_key"?}`
  debits the account's earnings with a ledger entry of kind `payout` and, when
  `destination` (a Stripe Connect account `acct_…`) is given, transfers the amount with
  the same idempotency key. Replaying a key returns the original payout. 402
  `insufficient_earnings`, 409 when a key is reused for a different payout, 502 when the
  payout is recorded but the transfer failed (retry with the same key), 503 when a
  transfer is asked for and Stripe is not configured.
- `GET /admin/accounts/{id}/payouts` → `{"payouts": [...], "earnings_micro_usd"}`.
"""

from __future__ import annotations

import secrets
from typing import Any

from quart import Blueprint, Response, jsonify, request

from ..billing.payouts import TransferFailed, pay_out, transferable_cents
from ..billing.stripe_gateway import MICRO_USD_PER_CENT, Transfer
from ..protocol.billing_api import PayoutRequest
from ..protocol.errors import (
    ApiError,
    bad_gateway,
    conflict,
    insufficient_credit,
    invalid_request,
    not_found,
    parse_json_body,
)
from ..protocol.vocabulary import ApiErrorCode
from ..storage.errors import Conflict, InsufficientFunds, UnknownAccount
from ..storage.models import Account, PayoutRecord
from .admin_auth import require_admin_key
from .billing import stripe_not_configured
from .context import coordinator

payouts = Blueprint("payouts", __name__)


@payouts.before_request
async def _require_admin_key() -> None:
    require_admin_key()


def _account_not_found(account_id: str) -> ApiError:
    return not_found(f"No account {account_id!r}.", ApiErrorCode.ACCOUNT_NOT_FOUND)


async def _account(account_id: str) -> Account:
    account = await coordinator().store.get_account(account_id)
    if account is None:
        raise _account_not_found(account_id)
    return account


def payout_json(payout: PayoutRecord, transfer: Transfer | None = None) -> dict[str, Any]:
    """The JSON shape of a payout (with its transfer when one was made in this request)."""
    return {
        "id": payout.id,
        "account_id": payout.account_id,
        "amount_micro_usd": payout.amount_micro_usd,
        "idempotency_key": payout.idempotency_key,
        "created_at": payout.created_at.isoformat(),
        "transfer": None
        if transfer is None
        else {
            "id": transfer.id,
            "destination": transfer.destination,
            "amount_cents": transfer.amount_cents,
        },
    }


@payouts.post("/admin/accounts/<account_id>/payout")
async def create_payout(account_id: str) -> Response:
    store, gateway = coordinator().store, coordinator().stripe
    raw = await request.get_data()
    body = parse_json_body(raw, PayoutRequest, max_bytes=coordinator().settings.max_body_bytes)
    if body.destination is not None:
        if gateway is None:
            raise stripe_not_configured(f"A transfer to {body.destination}")
        if transferable_cents(body.amount_micro_usd) is None:
            raise invalid_request(
                f"A transferred payout must be a whole number of cents: amount_micro_usd "
                f"must be a multiple of {MICRO_USD_PER_CENT}.",
                param="amount_micro_usd",
                code=ApiErrorCode.INVALID_VALUE,
            )
    key = body.idempotency_key or f"payout-{secrets.token_hex(16)}"
    try:
        result = await pay_out(
            store,
            account_id,
            body.amount_micro_usd,
            key,
            gateway=gateway,
            destination=body.destination,
        )
    except UnknownAccount:
        raise _account_not_found(account_id) from None
    except InsufficientFunds:
        raise insufficient_credit(
            f"The earnings of {account_id} cannot cover {body.amount_micro_usd} micro-USD.",
            param="amount_micro_usd",
            code=ApiErrorCode.INSUFFICIENT_EARNINGS,
        ) from None
    except Conflict:
        raise conflict(
            f"idempotency_key {key!r} was already used for a different payout.",
            param="idempotency_key",
            code=ApiErrorCode.IDEMPOTENCY_CONFLICT,
        ) from None
    except TransferFailed as exc:
        raise bad_gateway(
            f"Payout {exc.payout.id} is recorded but the Stripe transfer failed "
            f"({exc.error.message}). Retry with idempotency_key {key!r} to complete it; "
            "the earnings will not be debited twice.",
            ApiErrorCode.TRANSFER_FAILED,
        ) from None
    account = await _account(account_id)
    return jsonify(
        {
            **payout_json(result.payout, result.transfer),
            "earnings_micro_usd": account.earnings_micro_usd,
        }
    )


@payouts.get("/admin/accounts/<account_id>/payouts")
async def list_payouts(account_id: str) -> Response:
    account = await _account(account_id)
    try:
        records = await coordinator().store.list_payouts(account_id)
    except UnknownAccount:
        raise _account_not_found(account_id) from None
    return jsonify(
        {
            "payouts": [payout_json(p) for p in records],
            "earnings_micro_usd": account.earnings_micro_usd,
        }
    )
