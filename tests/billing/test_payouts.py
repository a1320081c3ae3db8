"""Admin payouts on both stores: ledger debit, idempotent replay, Stripe transfer by key."""

from __future__ import annotations

from typing import Any

import httpx

from switchyard.storage.models import LedgerKind

from .helpers import BillingEnv, billing_env

EARNED = 900_000  # micro-USD the provider owner earns in `_earning_owner`
CONNECTED = "acct_1ProviderOwner"


async def _earning_owner(env: BillingEnv) -> str:
    """A provider owner with EARNED micro-USD of earnings from one settled request."""
    store = env.running.coord.store
    consumer = await store.create_account("consumer")
    owner = await store.create_account("provider owner")
    await store.credit(consumer.id, 5_000_000, kind="topup", reason="test funding")
    await store.create_hold(consumer.id, "req-payout-test", 1_000_000)
    await store.settle_hold(
        "req-payout-test",
        1_000_000,
        provider_account_id=owner.id,
        provider_earning_micro_usd=EARNED,
    )
    return owner.id


async def _payout(env: BillingEnv, account_id: str, **body: Any) -> httpx.Response:
    return await env.running.admin.post(f"/admin/accounts/{account_id}/payout", json=body)


async def _payout_entries(env: BillingEnv, account_id: str) -> list[tuple[int, str]]:
    entries = await env.running.coord.store.ledger_entries(account_id)
    return [(e.amount_micro_usd, e.idempotency_key) for e in entries if e.kind is LedgerKind.PAYOUT]


async def test_payout_with_transfer_is_recorded_once_and_replays_safely(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        env.stripe.connected_accounts.add(CONNECTED)
        owner = await _earning_owner(env)
        request = {"amount_micro_usd": 500_000, "destination": CONNECTED, "idempotency_key": "p-1"}

        first = await _payout(env, owner, **request)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["account_id"] == owner
        assert body["amount_micro_usd"] == 500_000
        assert body["idempotency_key"] == "p-1"
        assert body["earnings_micro_usd"] == EARNED - 500_000
        assert body["transfer"]["destination"] == CONNECTED
        assert body["transfer"]["amount_cents"] == 50

        [sent] = env.stripe.received("/v1/transfers")
        assert sent.headers["idempotency-key"] == "p-1"
        assert sent.form["amount"] == "50"
        assert sent.form["currency"] == "usd"
        assert sent.form["destination"] == CONNECTED
        assert sent.form["metadata[switchyard_payout_id]"] == body["id"]
        assert sent.form["metadata[switchyard_account_id]"] == owner

        replay = await _payout(env, owner, **request)
        assert replay.status_code == 200
        assert replay.json()["id"] == body["id"]
        assert replay.json()["transfer"]["id"] == body["transfer"]["id"]
        assert replay.json()["earnings_micro_usd"] == EARNED - 500_000
        assert [r.headers["idempotency-key"] for r in env.stripe.received("/v1/transfers")] == [
            "p-1",
            "p-1",
        ]
        assert len(env.stripe.transfers) == 1

        assert await _payout_entries(env, owner) == [(-500_000, "p-1")]
        assert await env.running.coord.store.ledger_mismatches() == []
        listed = (await env.running.admin.get(f"/admin/accounts/{owner}/payouts")).json()
        assert [p["id"] for p in listed["payouts"]] == [body["id"]]
        assert listed["earnings_micro_usd"] == EARNED - 500_000


async def test_insufficient_earnings_and_key_reuse_are_refused(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        env.stripe.connected_accounts.add(CONNECTED)
        owner = await _earning_owner(env)

        too_much = await _payout(
            env, owner, amount_micro_usd=EARNED + 10_000, destination=CONNECTED
        )
        assert too_much.status_code == 402
        assert too_much.json()["error"]["code"] == "insufficient_earnings"
        assert env.stripe.requests == []
        assert await _payout_entries(env, owner) == []

        ok = await _payout(env, owner, amount_micro_usd=100_000, idempotency_key="p-2")
        assert ok.status_code == 200
        clash = await _payout(env, owner, amount_micro_usd=200_000, idempotency_key="p-2")
        assert clash.status_code == 409
        assert clash.json()["error"]["code"] == "idempotency_conflict"

        account = (await env.running.admin.get(f"/admin/accounts/{owner}")).json()
        assert account["earnings_micro_usd"] == EARNED - 100_000
        assert await env.running.coord.store.ledger_mismatches() == []


async def test_ledger_only_payout_generates_a_key_and_calls_no_stripe() -> None:
    async with billing_env() as env:
        owner = await _earning_owner(env)
        first = (await _payout(env, owner, amount_micro_usd=123_457)).json()
        second = (await _payout(env, owner, amount_micro_usd=123_457)).json()
        assert first["transfer"] is None
        assert first["idempotency_key"].startswith("payout-")
        assert first["idempotency_key"] != second["idempotency_key"]  # two distinct payouts
        assert second["earnings_micro_usd"] == EARNED - 2 * 123_457
        assert env.stripe.requests == []


async def test_failed_transfer_keeps_the_payout_and_a_retry_completes_it(
    store_target: tuple[str | None, str | None],
) -> None:
    async with billing_env(store_target) as env:
        owner = await _earning_owner(env)
        request = {"amount_micro_usd": 300_000, "destination": CONNECTED, "idempotency_key": "p-3"}

        failed = await _payout(env, owner, **request)  # Stripe does not know the account yet
        assert failed.status_code == 502
        error = failed.json()["error"]
        assert error["code"] == "transfer_failed"
        assert "p-3" in error["message"]
        assert env.stripe.transfers == {}

        env.stripe.connected_accounts.add(CONNECTED)  # the owner finishes Connect onboarding
        retried = await _payout(env, owner, **request)
        assert retried.status_code == 200
        assert retried.json()["transfer"]["destination"] == CONNECTED
        assert retried.json()["earnings_micro_usd"] == EARNED - 300_000
        assert len(env.stripe.transfers) == 1
        assert await _payout_entries(env, owner) == [(-300_000, "p-3")]


async def test_payout_request_validation() -> None:
    async with billing_env() as env:
        env.stripe.connected_accounts.add(CONNECTED)
        owner = await _earning_owner(env)
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"amount_micro_usd": 5_001, "destination": CONNECTED}, 400, "invalid_value"),
            ({"amount_micro_usd": 0}, 400, "invalid_value"),
            ({"amount_micro_usd": "10000"}, 400, "invalid_value"),
            ({"amount_micro_usd": 10_000, "destination": "bank-account"}, 400, "invalid_value"),
            ({"amount_micro_usd": 10_000, "idempotency_key": "sy:mine"}, 400, "invalid_value"),
        ]
        for body, status, code in cases:
            response = await _payout(env, owner, **body)
            assert response.status_code == status, body
            assert response.json()["error"]["code"] == code, body
        missing = await _payout(env, "acct_nobody", amount_micro_usd=10_000)
        assert missing.status_code == 404
        unlisted = await env.running.admin.get("/admin/accounts/acct_nobody/payouts")
        assert unlisted.status_code == 404
        assert env.stripe.requests == []
        assert await _payout_entries(env, owner) == []


async def test_transfer_without_stripe_is_503_and_records_nothing() -> None:
    async with billing_env(stripe_key=False) as env:
        owner = await _earning_owner(env)
        response = await _payout(env, owner, amount_micro_usd=100_000, destination=CONNECTED)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "stripe_not_configured"
        assert await _payout_entries(env, owner) == []


async def test_payout_routes_need_the_admin_key() -> None:
    async with billing_env() as env:
        owner = await _earning_owner(env)
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            posted = await env.http.post(
                f"/admin/accounts/{owner}/payout",
                json={"amount_micro_usd": 10_000},
                headers=headers,
            )
            listed = await env.http.get(f"/admin/accounts/{owner}/payouts", headers=headers)
            assert (posted.status_code, listed.status_code) == (401, 401)
        assert await _payout_entries(env, owner) == []
