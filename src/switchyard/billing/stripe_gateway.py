"""StripeGateway: the two Stripe API calls Switchyard makes, over stripe-python's async client.

- `create_checkout_session` opens a hosted Checkout page for buying credit (README, "Stripe":
  `client_reference_id` and `metadata.switchyard_account_id` carry the account id, one
  line item of the credit amount in USD, mode "payment");
- `transfer` pays a provider owner's connected account (Stripe Connect), with the
  idempotency key of the ledger's payout entry so a retried payout never pays twice.

The client is `stripe.StripeClient` over `stripe.HTTPXClient`, whose async methods
(`*_async`) run on httpx through anyio (retries sleep with `anyio.sleep`) and therefore
work natively under trio: no worker thread, no asyncio loop (tests/billing runs them so).
`api_base` (SWITCHYARD_STRIPE_API_BASE) points it at a local fake. Every Stripe failure
surfaces as `StripeGatewayError`; its message is for operators (HTTP routes decide what
a consumer sees).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe

from ..settings import Settings

log = logging.getLogger(__name__)

CURRENCY = "usd"
MICRO_USD_PER_CENT = 10_000
CREDIT_PRODUCT_NAME = "Switchyard API credit"
ACCOUNT_METADATA_KEY = "switchyard_account_id"


class StripeGatewayError(Exception):
    """Stripe refused or could not be reached.

    `message` names the operation and Stripe's own explanation (fit for an operator);
    `unreachable` is True for network failures (retrying may help).
    """

    def __init__(
        self, message: str, *, http_status: int | None, code: str | None, unreachable: bool
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """A created Checkout Session: its id and the hosted page to send the buyer to."""

    id: str
    url: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """A Stripe Connect transfer to a connected account."""

    id: str
    destination: str
    amount_cents: int


class _HTTPXClient(stripe.HTTPXClient):
    """stripe's HTTPXClient, sending the encoded form as `content=` (httpx deprecates
    `data=` for a pre-encoded body and warns on every request)."""

    def _get_request_args_kwargs(self, *args: Any, **kwargs: Any) -> Any:
        call_args, call_kwargs = super()._get_request_args_kwargs(*args, **kwargs)
        if isinstance(call_kwargs.get("data"), str | bytes):
            call_kwargs["content"] = call_kwargs.pop("data")
        return [call_args, call_kwargs]


class StripeGateway:
    """Talks to Stripe (or a fake at `api_base`) for one coordinator; `aclose()` when done."""

    def __init__(
        self,
        secret_key: str,
        api_base: str | None = None,
        *,
        timeout_s: float = 30.0,
        max_network_retries: int = 2,
    ) -> None:
        self._http = _HTTPXClient(timeout=timeout_s)
        addresses: dict[str, str] = {}
        if api_base:
            base = api_base.rstrip("/")
            addresses = {"api": base, "connect": base, "files": base}
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=addresses,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway | None:
        """A gateway when `stripe_secret_key` is set, else None (Stripe not configured)."""
        if not settings.stripe_secret_key:
            return None
        return cls(settings.stripe_secret_key, settings.stripe_api_base)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.close_async()

    async def create_checkout_session(
        self, account_id: str, amount_cents: int, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        """A one-off payment page for `amount_cents` of credit for `account_id`."""
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": account_id,
            "metadata": {ACCOUNT_METADATA_KEY: account_id},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": CURRENCY,
                        "unit_amount": amount_cents,
                        "product_data": {
                            "name": CREDIT_PRODUCT_NAME,
                            "description": f"${amount_cents / 100:,.2f} of API credit",
                        },
                    },
                }
            ],
            "payment_intent_data": {"metadata": {ACCOUNT_METADATA_KEY: account_id}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = await self._call(
            "create a checkout session",
            self._client.v1.checkout.sessions.create_async(params),  # type: ignore[arg-type]
        )
        if not session.url:
            raise StripeGatewayError(
                "Stripe returned a checkout session without a URL.",
                http_status=None,
                code=None,
                unreachable=False,
            )
        return CheckoutSession(id=session.id, url=session.url)

    async def transfer(
        self,
        destination: str,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> Transfer:
        """Move `amount_cents` USD to the connected account `destination`, once per key."""
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": CURRENCY,
            "destination": destination,
            "metadata": metadata or {},
        }
        created = await self._call(
            "create a transfer",
            self._client.v1.transfers.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            ),
        )
        return Transfer(id=created.id, destination=destination, amount_cents=amount_cents)

    async def _call(self, what: str, call: Any) -> Any:
        try:
            return await call
        except stripe.StripeError as exc:
            status = exc.http_status
            detail = exc.user_message or exc.code or type(exc).__name__
            log.warning("Stripe could not %s: %s (status %s)", what, detail, status)
            unreachable = isinstance(exc, stripe.APIConnectionError)
            if unreachable:
                message = f"Could not reach Stripe to {what}."
            else:
                message = f"Stripe refused to {what}: {detail}"
            raise StripeGatewayError(
                message, http_status=status, code=exc.code, unreachable=unreachable
            ) from exc
