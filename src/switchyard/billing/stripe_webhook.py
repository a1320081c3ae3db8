"""Stripe webhooks: verify the signature, read the event, credit the account exactly once.

`verify_event` checks the `Stripe-Signature` header with `stripe.Webhook.construct_event`
(HMAC-SHA256 of "<timestamp>.<body>" under the endpoint secret, timestamp no older than
the tolerance); any failure raises `InvalidWebhook` before anything is read or touched.

`apply_event` credits `checkout.session.completed` (and, for delayed payment methods,
`checkout.session.async_payment_succeeded`) when the session is paid in USD: the account
is `metadata.switchyard_account_id`, falling back to `client_reference_id`, and the credit
is `amount_total` cents times 10,000 micro-USD, recorded by `Store.record_stripe_event`, which
credits once per event id and once per Checkout Session id atomically: replays, concurrent
duplicates, and a session announced by both event types are no-ops after the first.

Everything else is acknowledged and ignored. A paid session naming an account that does
not exist is logged at ERROR and acknowledged too: Stripe retries non-2xx answers for
days, yet no retry can make an account appear (ids are ours), so the operator reconciles
it (refund, or credit the right account by hand) from the log line. A store outage, by
contrast, propagates (HTTP 503) so that Stripe retries later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import stripe
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..metrics import REGISTRY
from ..protocol.vocabulary import ApiErrorCode
from ..storage.errors import InvalidInput, UnknownAccount
from ..storage.protocol import Store
from .stripe_gateway import ACCOUNT_METADATA_KEY, CURRENCY, MICRO_USD_PER_CENT

log = logging.getLogger(__name__)

CREDIT_EVENT_TYPES = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)

WEBHOOKS = Counter(
    "switchyard_stripe_webhooks",
    "Stripe webhook deliveries, by outcome (rejected means a bad signature or body)",
    ["outcome"],
    registry=REGISTRY,
)


class InvalidWebhook(Exception):
    """The delivery is not a genuine, fresh Stripe event (answer 400, touch nothing).

    `code` is "invalid_signature" (missing, malformed, wrong or stale signature) or
    "invalid_payload" (correctly signed, but not a Stripe event).
    """

    def __init__(self, message: str, code: ApiErrorCode) -> None:
        super().__init__(message)
        self.code = code


class Outcome(StrEnum):
    """What a verified event did."""

    CREDITED = "credited"
    DUPLICATE = "duplicate"  # this event id, or its Checkout Session, was already credited
    IGNORED = "ignored"  # not an event that moves money
    UNKNOWN_ACCOUNT = "unknown_account"


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """The answer to one verified delivery."""

    event_id: str
    event_type: str
    outcome: Outcome
    account_id: str | None = None
    amount_micro_usd: int = 0


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object: dict[str, Any]


class StripeEvent(BaseModel):
    """The envelope fields of a verified Stripe event that Switchyard reads."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    data: _EventData


class _CheckoutSession(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    payment_status: str | None = None
    client_reference_id: str | None = None
    metadata: dict[str, Any] | None = None

    def account_id(self) -> str | None:
        tagged = (self.metadata or {}).get(ACCOUNT_METADATA_KEY)
        if isinstance(tagged, str) and tagged:
            return tagged
        return self.client_reference_id or None


def verify_event(payload: bytes, header: str | None, secret: str, tolerance_s: int) -> StripeEvent:
    """The event in `payload` if `header` signs it with `secret` recently enough."""
    try:
        event = stripe.Webhook.construct_event(payload, header, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as exc:
        WEBHOOKS.labels("rejected").inc()
        message = f"Invalid Stripe signature: {_first_sentence(exc)}"
        raise InvalidWebhook(message, ApiErrorCode.INVALID_SIGNATURE) from None
    except ValueError:  # not UTF-8 or not JSON (UnicodeDecodeError is a ValueError)
        WEBHOOKS.labels("rejected").inc()
        raise InvalidWebhook(
            "The webhook body is not JSON.", ApiErrorCode.INVALID_PAYLOAD
        ) from None
    except (AttributeError, TypeError, KeyError):  # JSON, but not an object stripe can build
        event = None
    try:
        if not isinstance(event, stripe.StripeObject):
            raise TypeError("not an object")
        return StripeEvent.model_validate(event.to_dict())
    except (TypeError, ValidationError):
        WEBHOOKS.labels("rejected").inc()
        raise InvalidWebhook(
            "The webhook body is not a Stripe event.", ApiErrorCode.INVALID_PAYLOAD
        ) from None


async def apply_event(store: Store, event: StripeEvent) -> WebhookResult:
    """Credit the account for a paid Checkout Session, once per event id."""
    result = await _apply(store, event)
    WEBHOOKS.labels(result.outcome.value).inc()
    return result


async def _apply(store: Store, event: StripeEvent) -> WebhookResult:
    ignored = WebhookResult(event.id, event.type, Outcome.IGNORED)
    if event.type not in CREDIT_EVENT_TYPES:
        return ignored
    try:
        session = _CheckoutSession.model_validate(event.data.object)
    except ValidationError:
        log.error("Stripe event %s (%s): unreadable checkout session", event.id, event.type)
        return ignored
    if session.payment_status != "paid":
        log.info("Stripe event %s: session %s not paid yet", event.id, session.id)
        return ignored
    account_id = session.account_id()
    if account_id is None:
        log.info("Stripe event %s: session %s names no Switchyard account", event.id, session.id)
        return ignored
    if (session.currency or "").lower() != CURRENCY or not session.amount_total:
        log.error(
            "Stripe event %s: session %s for %s has amount %s %s; only USD credits, ignored",
            event.id, session.id, account_id, session.amount_total, session.currency,
        )  # fmt: skip
        return ignored
    amount = session.amount_total * MICRO_USD_PER_CENT
    try:
        credited = await store.record_stripe_event(event.id, account_id, amount, session.id)
    except (UnknownAccount, InvalidInput) as exc:
        log.error(
            "Stripe event %s: paid session %s (%d cents) names account %r, which cannot be "
            "credited (%s); reconcile by hand",
            event.id, session.id, session.amount_total, account_id, exc,
        )  # fmt: skip
        return WebhookResult(event.id, event.type, Outcome.UNKNOWN_ACCOUNT, account_id, 0)
    if not credited:
        log.info(
            "Stripe event %s: it or session %s was already processed; not credited again",
            event.id, session.id,
        )  # fmt: skip
        return WebhookResult(event.id, event.type, Outcome.DUPLICATE, account_id, 0)
    log.info("Stripe event %s credited %d micro-USD to %s", event.id, amount, account_id)
    return WebhookResult(event.id, event.type, Outcome.CREDITED, account_id, amount)


def _first_sentence(exc: stripe.SignatureVerificationError) -> str:
    text = str(getattr(exc, "user_message", None) or exc)
    return text.split(". ", 1)[0].rstrip(".") + "."
