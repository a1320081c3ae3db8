"""POST /v1/billing/webhook on both stores: signatures computed by hand as Stripe does."""

from __future__ import annotations

import json
import time

import trio

from .helpers import (
    WEBHOOK_SECRET,
    BillingEnv,
    billing_env,
    event_payload,
    session_object,
    stripe_signature,
)

MICRO_PER_CENT = 10_000


async def _topups(env: BillingEnv, account_id: str) -> list[dict[str, object]]:
    entries = await env.running.coord.store.ledger_entries(account_id)
    return [
        {"amount": e.amount_micro_usd, "key": e.idempotency_key}
        for e in entries
        if e.kind == "topup"
    ]


async def test_valid_event_credits_once_and_replays_are_noops(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        account_id = await env.new_account()
        event_id, payload = event_payload(session_object(account_id, 2500))

        first = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
        assert first.status_code == 200
        assert first.json() == {
            "received": True,
            "id": event_id,
            "type": "checkout.session.completed",
            "outcome": "credited",
        }

        for _ in range(10):  # replays, each freshly signed as Stripe's retries are
            again = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
            assert again.status_code == 200
            assert again.json()["outcome"] == "duplicate"

        account = await env.account(account_id)
        assert account["balance_micro_usd"] == 2500 * MICRO_PER_CENT
        assert await _topups(env, account_id) == [
            {"amount": 2500 * MICRO_PER_CENT, "key": f"stripe:{event_id}"}
        ]
        assert await env.running.coord.store.ledger_mismatches() == []


async def test_concurrent_duplicates_credit_once(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        account_id = await env.new_account()
        _, payload = event_payload(session_object(account_id, 1234))
        signature = stripe_signature(payload, WEBHOOK_SECRET)
        outcomes: list[tuple[int, str]] = []

        async def deliver() -> None:
            response = await env.post_webhook(payload, signature)
            outcomes.append((response.status_code, response.json()["outcome"]))

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(deliver)

        assert sorted(outcomes) == [(200, "credited")] + [(200, "duplicate")] * 4
        account = await env.account(account_id)
        assert account["balance_micro_usd"] == 1234 * MICRO_PER_CENT
        assert len(await _topups(env, account_id)) == 1


async def test_bad_signatures_are_refused_and_touch_nothing(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        account_id = await env.new_account()
        event_id, payload = event_payload(session_object(account_id, 5000))
        good = stripe_signature(payload, WEBHOOK_SECRET)

        tampered = payload.replace(b'"amount_total": 5000', b'"amount_total": 500000')
        assert tampered != payload
        stale_time = int(time.time()) - 3600
        timestamp = good.split(",")[0].removeprefix("t=")
        attempts = {
            "tampered body": (tampered, good),
            "wrong secret": (payload, stripe_signature(payload, "whsec_not_the_secret")),
            "stale timestamp": (payload, stripe_signature(payload, WEBHOOK_SECRET, stale_time)),
            "missing header": (payload, None),
            "garbage header": (payload, "definitely not a signature"),
            "wrong scheme": (payload, good.replace(",v1=", ",v0=")),
            "signature of another timestamp": (payload, f"t={int(timestamp) + 1}," + good[-67:]),
        }
        for name, (body, signature) in attempts.items():
            response = await env.post_webhook(body, signature)
            assert response.status_code == 400, name
            error = response.json()["error"]
            assert error["code"] == "invalid_signature", name
            assert "Traceback" not in error["message"]

        account = await env.account(account_id)
        assert account["balance_micro_usd"] == 0
        assert await _topups(env, account_id) == []

        # None of the refused deliveries recorded the event: the genuine one still credits.
        genuine = await env.post_webhook(payload, good)
        assert genuine.json() == {
            "received": True,
            "id": event_id,
            "type": "checkout.session.completed",
            "outcome": "credited",
        }
        assert (await env.account(account_id))["balance_micro_usd"] == 5000 * MICRO_PER_CENT


async def test_tolerance_is_configurable() -> None:
    async with billing_env(stripe_webhook_tolerance_s=10) as env:
        account_id = await env.new_account()
        _, payload = event_payload(session_object(account_id, 700))
        thirty_seconds_ago = int(time.time()) - 30
        old = await env.post_webhook(
            payload, stripe_signature(payload, WEBHOOK_SECRET, thirty_seconds_ago)
        )
        assert old.status_code == 400
        fresh = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
        assert fresh.json()["outcome"] == "credited"


async def test_events_that_move_no_money_are_acknowledged_and_ignored(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        account_id = await env.new_account()
        cases = [
            session_object(account_id, 900, payment_status="unpaid"),
            session_object(account_id, 900, currency="eur"),
            session_object(account_id, 900, metadata={}, client_reference_id=None),
        ]
        bodies = [event_payload(session)[1] for session in cases]
        bodies.append(event_payload(session_object(account_id, 900), "payment_intent.created")[1])
        for body in bodies:
            response = await env.post_webhook(body, stripe_signature(body, WEBHOOK_SECRET))
            assert response.status_code == 200
            assert response.json()["outcome"] == "ignored"
        assert (await env.account(account_id))["balance_micro_usd"] == 0


async def test_account_reference_falls_back_to_client_reference_id() -> None:
    async with billing_env() as env:
        account_id = await env.new_account()
        session = session_object(account_id, 1500, metadata={})
        _, payload = event_payload(session, "checkout.session.async_payment_succeeded")
        response = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
        assert response.json()["outcome"] == "credited"
        assert (await env.account(account_id))["balance_micro_usd"] == 1500 * MICRO_PER_CENT


async def test_unknown_account_is_acknowledged_without_crediting(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        bystander = await env.new_account()
        _, payload = event_payload(session_object("acct_does_not_exist", 2000))
        for _ in range(2):
            response = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
            assert response.status_code == 200
            assert response.json()["outcome"] == "unknown_account"
        assert (await env.account(bystander))["balance_micro_usd"] == 0
        assert await env.running.coord.store.ledger_mismatches() == []


async def test_signed_but_malformed_bodies_are_refused() -> None:
    async with billing_env() as env:
        for body in (b"not json at all", b"[1, 2, 3]", json.dumps({"id": "evt_1"}).encode()):
            response = await env.post_webhook(body, stripe_signature(body, WEBHOOK_SECRET))
            assert response.status_code == 400, body
            assert response.json()["error"]["code"] == "invalid_payload"


async def test_webhook_without_a_configured_secret_is_503() -> None:
    async with billing_env(webhook_secret=None) as env:
        account_id = await env.new_account()
        _, payload = event_payload(session_object(account_id, 2000))
        response = await env.post_webhook(payload, stripe_signature(payload, WEBHOOK_SECRET))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "stripe_not_configured"
        assert (await env.account(account_id))["balance_micro_usd"] == 0
