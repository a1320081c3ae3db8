"""Invite codes, sign-up, login, sessions and CSRF over real HTTP, on both stores; the
attacks: used-up/expired codes, missing CSRF, brute-forced logins, oversized input."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import trio
from click.testing import CliRunner

from switchyard.cli import main
from switchyard.protocol.limits import AUTH_ATTEMPTS_PER_ADDRESS, LOGIN_FAILURES_PER_NAME
from switchyard.storage.models import utc_now

from .harness import ADMIN_KEY, coordinator
from .selfservice_helpers import PASSWORD, invite, self_service, signed_up


async def test_newcomer_signs_up_uses_the_session_and_signs_out(
    store_target: tuple[str | None, str | None],
) -> None:
    async with self_service(store_target) as running:
        code = await invite(running, uses=2)
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            reply = await client.post(
                "/v1/signup", json={"invite_code": code, "login": "Newcomer", "password": PASSWORD}
            )
            assert reply.status_code == 201, reply.text
            body = reply.json()
            assert body["account"]["name"] == "newcomer"
            assert body["account"]["balance_micro_usd"] == 0 and body["csrf_token"]
            cookie = reply.headers["set-cookie"]
            assert cookie.startswith("switchyard_session=ss-sy-")
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

            me = await client.get("/v1/account/session")
            assert me.status_code == 200
            assert me.json()["account"]["id"] == body["account"]["id"]
            assert me.json() == {**me.json(), "via": "session", "csrf_token": body["csrf_token"]}

            out = await client.post("/v1/account/logout")
            assert out.status_code == 403  # the session's CSRF token is missing
            assert out.json()["error"]["code"] == "csrf_failed"
            out = await client.post(
                "/v1/account/logout", headers={"X-CSRF-Token": body["csrf_token"]}
            )
            assert out.status_code == 200
            assert (await client.get("/v1/account/session")).status_code == 401

            again = await client.post(
                "/v1/account/login", json={"login": "NEWCOMER", "password": PASSWORD}
            )
            assert again.status_code == 200, again.text
            assert again.json()["account"]["id"] == body["account"]["id"]
            assert again.json()["csrf_token"] != body["csrf_token"]
            assert (await client.get("/v1/account/session")).status_code == 200

        listed = (await running.admin.get("/admin/invite-codes")).json()["invite_codes"]
        assert [(c["uses"], c["max_uses"], c["usable"]) for c in listed] == [(1, 2, True)]
        assert "code" not in listed[0]


async def test_session_cookie_is_secure_by_default() -> None:
    async with coordinator() as running:  # default settings: cookie_secure on
        code = await invite(running)
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            reply = await client.post(
                "/v1/signup", json={"invite_code": code, "login": "sec", "password": PASSWORD}
            )
        assert reply.status_code == 201
        assert "Secure" in reply.headers["set-cookie"]


async def test_used_up_expired_revoked_and_bogus_invite_codes_are_refused() -> None:
    async with self_service() as running:
        code = await invite(running, uses=1)
        async with signed_up(running, "first"):
            pass
        async with httpx.AsyncClient(base_url=running.base_url) as client:

            async def attempt(invite_code: str, login: str) -> httpx.Response:
                body = {"invite_code": invite_code, "login": login, "password": PASSWORD}
                return await client.post("/v1/signup", json=body)

            used = await attempt(code, "second")
            assert used.status_code == 201  # the helper used its own code; this one is fresh
            refused = await attempt(code, "third")
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "invite_code_invalid"
            assert "used up" in refused.json()["error"]["message"]

            revocable = await running.admin.post("/admin/invite-codes", json={})
            await running.admin.delete(f"/admin/invite-codes/{revocable.json()['id']}")
            refused = await attempt(revocable.json()["code"], "fourth")
            assert "revoked" in refused.json()["error"]["message"]
            bogus = await attempt("inv-sy-made-up", "fifth")
            assert bogus.status_code == 403 and "unknown" in bogus.json()["error"]["message"]

            taken_code = await invite(running)
            taken = await attempt(taken_code, "FIRST")
            assert taken.status_code == 409 and taken.json()["error"]["code"] == "login_taken"
        missing = await running.admin.delete("/admin/invite-codes/inv_nope")
        assert missing.status_code == 404


async def test_expired_invite_code_is_refused() -> None:
    async with self_service() as running:
        reply = await running.admin.post("/admin/invite-codes", json={"expires_in_s": 60})
        code_id, code = reply.json()["id"], reply.json()["code"]
        store = running.coord.store
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            body = {"invite_code": code, "login": "late", "password": PASSWORD}
            # Still good now...
            codes = await store.list_invite_codes()
            assert codes[0].id == code_id and codes[0].refusal(utc_now()) is None
            assert codes[0].refusal(utc_now() + timedelta(seconds=61)) == (
                "this invite code has expired"
            )
            # ...and a code minted already expired is refused over HTTP.
            _, stale = await store.create_invite_code(1, utc_now() - timedelta(seconds=1))
            refused = await client.post("/v1/signup", json={**body, "invite_code": stale})
            assert refused.status_code == 403
            assert "expired" in refused.json()["error"]["message"]


async def test_bad_input_is_a_typed_4xx() -> None:
    async with self_service() as running:
        code = await invite(running)
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            cases = [
                ({"invite_code": code, "login": "x" * 65, "password": PASSWORD}, "login"),
                ({"invite_code": code, "login": "ab", "password": PASSWORD}, "login"),
                ({"invite_code": code, "login": "bad name", "password": PASSWORD}, "login"),
                ({"invite_code": code, "login": "okname", "password": "short"}, "password"),
                ({"invite_code": code, "login": "okname", "password": "p" * 1025}, "password"),
                ({"invite_code": "i" * 300, "login": "okname", "password": PASSWORD}, None),
                ({"invite_code": code, "login": "okname"}, None),
                ({"invite_code": code, "login": "okname", "password": PASSWORD, "x": 1}, None),
            ]
            for body, param in cases:
                reply = await client.post("/v1/signup", json=body)
                assert reply.status_code == 400, (body, reply.text)
                if param:
                    assert reply.json()["error"]["param"] == param
            form = await client.post("/v1/signup", data={"invite_code": code})
            assert form.status_code == 415
            text = await client.post(
                "/v1/account/login",
                content=json.dumps({"login": "a", "password": "b"}),
                headers={"Content-Type": "text/plain"},
            )
            assert text.status_code == 415  # a cross-site form cannot log a visitor in
            assert (await client.post("/v1/signup", content=b"{nope")).status_code in (400, 415)
            big = await running.admin.post("/admin/invite-codes", json={"note": "n" * 101})
            assert big.status_code == 400
            zero = await running.admin.post("/admin/invite-codes", json={"max_uses": 0})
            assert zero.status_code == 400
        # The invite code was not used by any of these.
        listed = (await running.admin.get("/admin/invite-codes")).json()["invite_codes"]
        assert listed[0]["uses"] == 0


async def test_brute_force_login_is_throttled_per_name_and_per_address() -> None:
    async with self_service() as running:
        async with signed_up(running, "victim"):
            pass
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            body = {"login": "victim", "password": "wrong passphrase!"}
            for _ in range(LOGIN_FAILURES_PER_NAME):
                wrong = await client.post("/v1/account/login", json=body)
                assert wrong.status_code == 401
                assert wrong.json()["error"]["code"] == "invalid_credentials"
            locked = await client.post("/v1/account/login", json=body)
            assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
            # Even the right passphrase waits: the name is locked for the window.
            right = await client.post(
                "/v1/account/login", json={"login": "victim", "password": PASSWORD}
            )
            assert right.status_code == 429
            # Unknown names answer like wrong passphrases, then the address runs out.
            codes = []
            for i in range(AUTH_ATTEMPTS_PER_ADDRESS):
                reply = await client.post(
                    "/v1/account/login", json={"login": f"nobody{i}", "password": PASSWORD}
                )
                codes.append(reply.status_code)
            assert set(codes[:10]) == {401} and codes[-1] == 429


async def test_invite_codes_cli_round_trip() -> None:
    async with self_service() as running:
        env = {"SWITCHYARD_URL": running.base_url, "SWITCHYARD_ADMIN_KEY": ADMIN_KEY}

        def run(*args: str) -> object:
            result = CliRunner().invoke(
                main, ["admin", "invite-codes", *args], env=env, catch_exceptions=False
            )
            assert result.exit_code == 0, result.output
            return result

        created = await trio.to_thread.run_sync(
            lambda: run("create", "--uses", "3", "--expires-in-days", "2", "--note", "wave 2")
        )
        record = json.loads(created.stdout)  # type: ignore[attr-defined]
        assert record["max_uses"] == 3 and record["note"] == "wave 2"
        assert record["code"].startswith("inv-sy-")
        assert "cannot be shown again" in created.stderr  # type: ignore[attr-defined]
        table = await trio.to_thread.run_sync(lambda: run("list", "--table"))
        assert record["id"] in table.stdout and "wave 2" in table.stdout  # type: ignore[attr-defined]
        revoked = await trio.to_thread.run_sync(lambda: run("revoke", record["id"]))
        assert json.loads(revoked.stdout)["revoked"] is True  # type: ignore[attr-defined]
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            body = {"invite_code": record["code"], "login": "viacli", "password": PASSWORD}
            assert (await client.post("/v1/signup", json=body)).status_code == 403
