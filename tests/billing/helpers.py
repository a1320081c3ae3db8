"""Billing test helpers: a coordinator wired to the fake Stripe, hand-made signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from switchyard.storage import open_store

from ..integration.harness import Running, coordinator, fast_settings
from .fake_stripe import FakeStripe, running_fake_stripe

WEBHOOK_SECRET = "whsec_switchyard_test_secret"


@dataclass
class BillingEnv:
    """A running coordinator, its fake Stripe, and a plain (keyless) HTTP client."""

    running: Running
    stripe: FakeStripe
    http: httpx.AsyncClient

    async def account(self, account_id: str) -> dict[str, Any]:
        return (await self.running.admin.get(f"/admin/accounts/{account_id}")).json()

    async def new_account(self, name: str = "buyer") -> str:
        return (await self.running.admin.post("/admin/accounts", json={"name": name})).json()["id"]

    async def post_webhook(self, payload: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return await self.http.post("/v1/billing/webhook", content=payload, headers=headers)


@asynccontextmanager
async def billing_env(
    target: tuple[str | None, str | None] = (None, None),
    *,
    stripe_key: bool = True,
    webhook_secret: str | None = WEBHOOK_SECRET,
    **settings: Any,
) -> AsyncIterator[BillingEnv]:
    """Fake Stripe + coordinator on the store `target` ((None, None) is the memory store)."""
    url, schema = target
    async with running_fake_stripe() as fake, open_store(url, schema=schema) as store:
        config = fast_settings().with_overrides(
            stripe_secret_key=fake.secret_key if stripe_key else None,
            stripe_api_base=fake.base_url,
            stripe_webhook_secret=webhook_secret,
            **settings,
        )
        async with coordinator(config, store) as running:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
                yield BillingEnv(running, fake, http)


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header Stripe sends: `t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.payload")>`."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def session_object(account_id: str, amount_cents: int, **changes: Any) -> dict[str, Any]:
    """A paid Checkout Session as Stripe puts it in `checkout.session.completed`."""
    session_id = f"cs_test_{secrets.token_hex(8)}"
    session = {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "amount_total": amount_cents,
        "currency": "usd",
        "client_reference_id": account_id,
        "metadata": {"switchyard_account_id": account_id},
        "payment_status": "paid",
        "status": "complete",
    }
    session.update(changes)
    return session


def event_payload(
    session: dict[str, Any], event_type: str = "checkout.session.completed"
) -> tuple[str, bytes]:
    """(event id, JSON body) of a Stripe event carrying `session`."""
    event_id = f"evt_test_{secrets.token_hex(8)}"
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": session},
    }
    return event_id, json.dumps(event, indent=2).encode()
