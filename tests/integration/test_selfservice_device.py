"""The device-code flow over HTTP: pending, slow_down, approval yielding one token,
denial, expiry, guessing, malformed codes; both stores."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from switchyard.protocol.limits import DEVICE_APPROVAL_FAILURES, DEVICE_POLL_INTERVAL_S
from switchyard.storage.models import utc_now

from .selfservice_helpers import self_service, signed_up


def _code(reply: httpx.Response) -> str | None:
    return reply.json()["error"]["code"]


async def test_pending_slow_down_approve_once_then_used(
    store_target: tuple[str | None, str | None],
) -> None:
    async with self_service(store_target) as running:
        async with (
            signed_up(running, "owner") as (owner, body),
            httpx.AsyncClient(base_url=running.base_url) as agent,
        ):
            grant = (await agent.post("/v1/device/code", json={"name": "rig"})).json()
            assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", grant["user_code"])
            assert grant["verification_uri"] == running.base_url + "/dashboard/device"
            assert grant["verification_uri_complete"].endswith(grant["user_code"])
            assert grant["interval"] == DEVICE_POLL_INTERVAL_S and grant["expires_in"] == 600
            poll = {"device_code": grant["device_code"]}
            first = await agent.post("/v1/device/token", json=poll)
            assert first.status_code == 400 and _code(first) == "authorization_pending"
            fast = await agent.post("/v1/device/token", json=poll)
            assert _code(fast) == "slow_down" and "10 s" in fast.json()["error"]["message"]

            anonymous = await agent.get(
                "/v1/device/pending", params={"user_code": grant["user_code"]}
            )
            assert anonymous.status_code == 401
            typed = grant["user_code"].lower().replace("-", " ")
            pending = await owner.get("/v1/device/pending", params={"user_code": typed})
            assert pending.status_code == 200 and pending.json()["name"] == "rig"
            approved = await owner.post("/v1/device/approve", json={"user_code": typed})
            assert approved.json() == {
                "user_code": grant["user_code"],
                "name": "rig",
                "approved": True,
            }
            again = await owner.post("/v1/device/approve", json={"user_code": typed})
            assert again.status_code == 409

            # The poll right after the last one is too soon; the store says when it may.
            record = await running.coord.store.get_device_code(grant["user_code"])
            assert record is not None and record.polled_at is not None
            store = running.coord.store
            later = record.polled_at + timedelta(seconds=record.interval_s)
            result = await store.poll_device_code(grant["device_code"], later)
            assert result.token is not None and result.token.startswith("pt-sy-")
            token = await store.lookup_provider_token(result.token)
            assert token is not None and token.account_id == body["account"]["id"]

            used = await agent.post("/v1/device/token", json=poll)
            assert _code(used) == "invalid_grant"
            bogus = await agent.post("/v1/device/token", json={"device_code": "dc-sy-nope"})
            assert _code(bogus) == "invalid_grant"
            huge = await agent.post("/v1/device/token", json={"device_code": "d" * 257})
            assert huge.status_code == 400 and huge.json()["error"]["param"] == "device_code"


async def test_first_poll_after_approval_gets_the_token_over_http() -> None:
    async with self_service() as running:
        async with (
            signed_up(running, "owner") as (owner, _),
            httpx.AsyncClient(base_url=running.base_url) as agent,
        ):
            grant = (await agent.post("/v1/device/code", json={})).json()
            await owner.post("/v1/device/approve", json={"user_code": grant["user_code"]})
            got = await agent.post("/v1/device/token", json={"device_code": grant["device_code"]})
            assert got.status_code == 200, got.text
            assert got.json()["provider_token"].startswith("pt-sy-")
            assert got.json()["name"] == "provider"
            tokens = (await owner.get("/v1/account/provider-tokens")).json()["provider_tokens"]
            assert [t["id"] for t in tokens] == [got.json()["token_id"]]


async def test_denied_expired_guessed_and_malformed_codes() -> None:
    async with self_service() as running:
        async with (
            signed_up(running, "owner") as (owner, _),
            httpx.AsyncClient(base_url=running.base_url) as agent,
        ):
            grant = (await agent.post("/v1/device/code", json={"name": "x"})).json()
            denied = await owner.post("/v1/device/deny", json={"user_code": grant["user_code"]})
            assert denied.json()["approved"] is False
            poll = await agent.post("/v1/device/token", json={"device_code": grant["device_code"]})
            assert _code(poll) == "access_denied"

            _, stale = await running.coord.store.create_device_code(
                "old", "BBBB-CCCC", utc_now() - timedelta(seconds=1), 5, 100
            )
            expired = await agent.post("/v1/device/token", json={"device_code": stale})
            assert _code(expired) == "expired_token"
            late = await owner.post("/v1/device/approve", json={"user_code": "BBBB-CCCC"})
            assert late.status_code == 400 and _code(late) == "expired_token"
            gone = await owner.get("/v1/device/pending", params={"user_code": "BBBB-CCCC"})
            assert gone.status_code == 404

            for bad in ("AEIO-UAEI", "BCD", "x" * 33, ""):
                reply = await owner.post("/v1/device/approve", json={"user_code": bad})
                assert reply.status_code == 400, bad
            statuses = []
            for _ in range(DEVICE_APPROVAL_FAILURES):
                guess = await owner.post("/v1/device/approve", json={"user_code": "ZZZZ-ZZZZ"})
                statuses.append(guess.status_code)
            # The late approval and the lookup above were this account's first wrong codes.
            assert statuses == [404] * (DEVICE_APPROVAL_FAILURES - 2) + [429] * 2
            assert (
                await agent.post("/v1/device/code", json={"name": "n" * 101})
            ).status_code == 400


async def test_looking_codes_up_spends_the_same_wrong_code_budget() -> None:
    """Looking a code up shows the agent's name: guessing by lookup is throttled like
    guessing by approval, and the budget is the account's, not the route's."""
    async with self_service() as running:
        async with signed_up(running, "looker") as (owner, _):
            statuses = []
            for i in range(DEVICE_APPROVAL_FAILURES + 1):
                route = "/v1/device/pending" if i % 2 else "/dashboard/device"
                guess = await owner.get(route, params={"user_code": "ZZZZ-ZZZ" + "BC"[i % 2]})
                statuses.append(guess.status_code)
            assert statuses == [404] * DEVICE_APPROVAL_FAILURES + [429]
            approve = await owner.post("/v1/device/approve", json={"user_code": "ZZZZ-ZZZZ"})
            assert approve.status_code == 429
