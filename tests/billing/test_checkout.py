"""POST /v1/billing/checkout against the fake Stripe: what Stripe is asked for, and refusals."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .fake_stripe import SECRET_KEY
from .helpers import WEBHOOK_SECRET, BillingEnv, billing_env, stripe_signature

MICRO_PER_CENT = 10_000


async def _consumer(env: BillingEnv) -> tuple[str, dict[str, str]]:
    """(account id, auth headers) of a fresh, unfunded consumer."""
    account_id = await env.new_account("consumer")
    key = (await env.running.admin.post(f"/admin/accounts/{account_id}/keys", json={})).json()
    return account_id, {"Authorization": f"Bearer {key['key']}"}


async def _checkout(env: BillingEnv, headers: dict[str, str], body: Any) -> httpx.Response:
    return await env.http.post("/v1/billing/checkout", json=body, headers=headers)


async def test_checkout_creates_a_session_for_the_amount_and_account() -> None:
    async with billing_env() as env:
        account_id, headers = await _consumer(env)
        response = await _checkout(env, headers, {"amount_usd": 25})
        assert response.status_code == 200, response.text
        body = response.json()

        [sent] = env.stripe.received("/v1/checkout/sessions")
        assert sent.headers["authorization"] == f"Bearer {SECRET_KEY}"
        form = sent.form
        assert form["mode"] == "payment"
        assert form["client_reference_id"] == account_id
        assert form["metadata[switchyard_account_id]"] == account_id
        assert form["line_items[0][quantity]"] == "1"
        assert form["line_items[0][price_data][currency]"] == "usd"
        assert form["line_items[0][price_data][unit_amount]"] == "2500"
        assert "line_items[1][quantity]" not in form
        base = env.running.base_url
        assert form["success_url"] == (
            f"{base}/v1/billing/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
        )
        assert form["cancel_url"] == f"{base}/v1/billing/checkout/cancel"

        session = env.stripe.sessions[body["id"]]
        assert body == {"id": session["id"], "url": session["url"], "amount_cents": 2500}
        assert session["amount_total"] == 2500

        for page in ("success", "cancel"):
            landing = await env.http.get(f"/v1/billing/checkout/{page}")
            assert landing.status_code == 200
            assert landing.headers["content-type"].startswith("text/html")


async def test_amounts_in_cents_or_dollars_and_configured_urls() -> None:
    urls = {
        "checkout_success_url": "https://shop.example/ok?s={CHECKOUT_SESSION_ID}",
        "checkout_cancel_url": "https://shop.example/cancelled",
    }
    async with billing_env(**urls) as env:
        _, headers = await _consumer(env)
        for body, cents in (
            ({"amount_usd": 12.34}, "1234"),
            ({"amount_usd": 10}, "1000"),
            ({"amount_cents": 100_000}, "100000"),
            ({"amount_cents": 500}, "500"),
        ):
            response = await _checkout(env, headers, body)
            assert response.status_code == 200, (body, response.text)
            assert env.stripe.requests[-1].form["line_items[0][price_data][unit_amount]"] == cents
            assert env.stripe.requests[-1].form["success_url"] == urls["checkout_success_url"]
            assert env.stripe.requests[-1].form["cancel_url"] == urls["checkout_cancel_url"]


async def test_bad_amounts_are_refused_before_stripe_is_called() -> None:
    async with billing_env(checkout_min_cents=1000, checkout_max_cents=5000) as env:
        _, headers = await _consumer(env)
        cases: list[tuple[Any, str]] = [
            ({"amount_cents": 999}, "amount_out_of_range"),
            ({"amount_usd": 50.01}, "amount_out_of_range"),
            ({"amount_usd": 12.345}, "invalid_value"),
            ({"amount_usd": 10, "amount_cents": 1000}, "invalid_value"),
            ({}, "invalid_value"),
            ({"amount_cents": "1000"}, "invalid_value"),
            ({"amount_cents": True}, "invalid_value"),
            ({"amount_usd": -10}, "invalid_value"),
            ([1000], "invalid_json"),
        ]
        for body, code in cases:
            response = await _checkout(env, headers, body)
            assert response.status_code == 400, body
            assert response.json()["error"]["code"] == code, body
        assert env.stripe.requests == []


async def test_checkout_needs_a_valid_api_key() -> None:
    async with billing_env() as env:
        for headers in ({}, {"Authorization": "Bearer sk-sy-not-a-real-key"}):
            response = await _checkout(env, headers, {"amount_usd": 10})
            assert response.status_code == 401
        assert env.stripe.requests == []


async def test_checkout_without_stripe_is_503() -> None:
    async with billing_env(stripe_key=False) as env:
        _, headers = await _consumer(env)
        response = await _checkout(env, headers, {"amount_usd": 10})
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "stripe_not_configured"
        assert "Stripe is not configured" in error["message"]
        assert env.stripe.requests == []


async def test_stripe_refusal_is_a_502_without_stripe_details() -> None:
    async with billing_env() as env:
        _, headers = await _consumer(env)
        env.stripe.secret_key = "sk_test_rotated"  # Stripe now rejects our key
        response = await _checkout(env, headers, {"amount_usd": 10})
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "stripe_error"
        assert "sk_test" not in error["message"]


async def test_paying_a_checkout_session_credits_the_account() -> None:
    async with billing_env() as env:
        account_id, headers = await _consumer(env)
        session_id = (await _checkout(env, headers, {"amount_usd": 40})).json()["id"]
        session = env.stripe.complete_session(session_id)
        assert session["client_reference_id"] == account_id
        payload = json.dumps(
            {
                "id": "evt_checkout_paid_1",
                "object": "event",
                "type": "checkout.session.completed",
                "data": {"object": session},
            }
        ).encode()
        response = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
        assert response.json()["outcome"] == "credited"
        account = (await env.http.get("/v1/account", headers=headers)).json()
        assert account["balance_micro_usd"] == 4000 * MICRO_PER_CENT


async def test_a_session_paid_as_completed_and_async_succeeded_credits_once(
    store_target: tuple[str | None, str | None],
) -> None:
    """Stripe may announce one paid session twice, under two event types and ids."""
    async with billing_env(store_target) as env:
        account_id, headers = await _consumer(env)
        session_id = (await _checkout(env, headers, {"amount_usd": 25})).json()["id"]
        session = env.stripe.complete_session(session_id)
        outcomes = []
        for event_id, event_type in (
            ("evt_session_completed", "checkout.session.completed"),
            ("evt_session_async_ok", "checkout.session.async_payment_succeeded"),
            ("evt_session_completed", "checkout.session.completed"),  # a plain replay
        ):
            event = {"id": event_id, "object": "event", "type": event_type,
                     "data": {"object": session}}  # fmt: skip
            payload = json.dumps(event).encode()
            response = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
            assert response.status_code == 200
            outcomes.append(response.json()["outcome"])
        assert outcomes == ["credited", "duplicate", "duplicate"]
        account = (await env.http.get("/v1/account", headers=headers)).json()
        assert account["balance_micro_usd"] == 2500 * MICRO_PER_CENT
        store = env.running.coord.store
        topups = [e for e in await store.ledger_entries(account_id) if e.kind == "topup"]
        assert len(topups) == 1
        assert await store.ledger_mismatches() == []
