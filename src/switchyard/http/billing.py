"""Buying credit through Stripe: `POST /v1/billing/checkout` and `POST /v1/billing/webhook`.

- Checkout (consumer `Authorization: Bearer <API key>`): body `{"amount_usd": 25}` or
  `{"amount_cents": 2500}` within the configured bounds → `{"id", "url", "amount_cents"}`,
  a Stripe Checkout Session for the key's account. 503 when Stripe is not configured.
- Webhook (Stripe's `Stripe-Signature` header, no API key): see `billing.stripe_webhook`.
  400 for a bad, missing or stale signature; 200 for every verified event (credited,
  duplicate, ignored or naming an unknown account); 503 when the store is down so that
  Stripe retries.
- `GET /v1/billing/checkout/success` and `/cancel`: the pages Checkout sends the buyer back
  to when `checkout_success_url` / `checkout_cancel_url` are not configured.

The `StripeGateway` is the coordinator's (`Coordinator.stripe`, opened and closed with it).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from ..billing.stripe_gateway import StripeGatewayError
from ..billing.stripe_webhook import InvalidWebhook, apply_event, verify_event
from ..protocol.billing_api import CheckoutRequest
from ..protocol.errors import (
    ApiError,
    bad_gateway,
    invalid_request,
    parse_json_body,
    service_unavailable,
)
from ..protocol.vocabulary import ApiErrorCode
from .context import authenticate, coordinator

billing = Blueprint("billing", __name__)

SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


def stripe_not_configured(what: str) -> ApiError:
    """503 naming the missing setting."""
    return service_unavailable(
        f"{what} is not available: Stripe is not configured on this coordinator.",
        ApiErrorCode.STRIPE_NOT_CONFIGURED,
    )


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@billing.post("/v1/billing/checkout")
async def create_checkout() -> Response:
    key = await authenticate()
    return await checkout_for(key.account_id)


async def checkout_for(account_id: str) -> Response:
    """A Checkout Session buying credit for `account_id`, from the request's body (also
    `POST /v1/account/checkout`, for a signed-in account)."""
    if coordinator().stripe is None:
        raise stripe_not_configured("Buying credit")
    settings = coordinator().settings
    body = parse_json_body(
        await request.get_data(), CheckoutRequest, max_bytes=settings.max_body_bytes
    )
    return jsonify(await start_checkout(account_id, body))


async def start_checkout(
    account_id: str,
    body: CheckoutRequest,
    *,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> dict[str, Any]:
    """`{"id", "url", "amount_cents"}` of a new Checkout Session for `account_id` (also the
    dashboard's billing form). The return URLs default to the configured ones, else the
    pages below; 503 without Stripe, 400 outside the configured bounds."""
    gateway = coordinator().stripe
    if gateway is None:
        raise stripe_not_configured("Buying credit")
    settings = coordinator().settings
    cents = body.cents
    low, high = settings.checkout_min_cents, settings.checkout_max_cents
    if not low <= cents <= high:
        raise invalid_request(
            f"The amount must be between {_dollars(low)} and {_dollars(high)}.",
            param="amount_cents" if body.amount_cents is not None else "amount_usd",
            code=ApiErrorCode.AMOUNT_OUT_OF_RANGE,
        )
    base = request.host_url.rstrip("/")
    success_url = (
        success_url
        or settings.checkout_success_url
        or (f"{base}/v1/billing/checkout/success?session_id={SESSION_PLACEHOLDER}")
    )
    cancel_url = (
        cancel_url or settings.checkout_cancel_url or (f"{base}/v1/billing/checkout/cancel")
    )
    try:
        session = await gateway.create_checkout_session(account_id, cents, success_url, cancel_url)
    except StripeGatewayError:
        raise bad_gateway(
            "Stripe could not create a checkout session; try again shortly.",
            ApiErrorCode.STRIPE_ERROR,
            retry_after=5,
        ) from None
    return {"id": session.id, "url": session.url, "amount_cents": cents}


@billing.post("/v1/billing/webhook")
async def stripe_webhook() -> Response:
    settings = coordinator().settings
    if not settings.stripe_webhook_secret:
        raise stripe_not_configured("The Stripe webhook")
    payload = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    try:
        event = verify_event(
            payload,
            request.headers.get("Stripe-Signature"),
            settings.stripe_webhook_secret,
            settings.stripe_webhook_tolerance_s,
        )
    except InvalidWebhook as exc:
        raise invalid_request(str(exc), code=exc.code) from None
    result = await apply_event(coordinator().store, event)
    return jsonify(
        {
            "received": True,
            "id": result.event_id,
            "type": result.event_type,
            "outcome": result.outcome.value,
        }
    )


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Switchyard credit</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>{title}</h1><p>{text}</p></body></html>
"""


@billing.get("/v1/billing/checkout/success")
async def checkout_success() -> Response:
    text = (
        "Thank you. Your balance is credited as soon as Stripe confirms the payment, "
        "usually within seconds; see <code>GET /v1/account</code>."
    )
    return Response(_PAGE.format(title="Payment received", text=text), content_type="text/html")


@billing.get("/v1/billing/checkout/cancel")
async def checkout_cancel() -> Response:
    text = "No payment was taken. You can start a new checkout at any time."
    return Response(_PAGE.format(title="Checkout cancelled", text=text), content_type="text/html")
