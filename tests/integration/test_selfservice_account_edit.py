"""Changing the passphrase and renaming keys over real HTTP, on both stores: the session
only, CSRF, the login throttle, other sessions ended, names checked, other accounts' keys
404."""

from __future__ import annotations

import httpx

from switchyard.protocol.limits import LOGIN_FAILURES_PER_NAME, MAX_LABEL_CHARS

from .selfservice_helpers import PASSWORD, self_service, signed_up

NEW_PASSWORD = "a brand new passphrase"
NO_CSRF = {"X-CSRF-Token": ""}


def change(current: str = PASSWORD, new: str = NEW_PASSWORD) -> dict[str, str]:
    return {"current_password": current, "new_password": new}


async def test_passphrase_change_ends_the_other_sessions_and_keeps_this_one(
    store_target: tuple[str | None, str | None],
) -> None:
    async with self_service(store_target) as running:
        async with signed_up(running, "changer") as (client, body):
            mkey = (await client.post("/v1/account/management-keys", json={})).json()["key"]
            async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as other:
                login = {"login": "changer", "password": PASSWORD}
                assert (await other.post("/v1/account/login", json=login)).status_code == 200
                assert (await other.get("/v1/account/session")).status_code == 200

                # CSRF token missing: refused like every state change made with a cookie.
                forged = await client.post("/v1/account/password", json=change(), headers=NO_CSRF)
                assert forged.status_code == 403
                assert forged.json()["error"]["code"] == "csrf_failed"
                # A management key may not: a stolen key must not take the account over.
                as_key = {"Authorization": f"Bearer {mkey}"}
                async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as bare:
                    by_key = await bare.post("/v1/account/password", json=change(), headers=as_key)
                assert by_key.status_code == 403
                assert by_key.json()["error"]["code"] == "permission_denied"
                # The new passphrase follows the sign-up rules.
                weak = await client.post("/v1/account/password", json=change(new="short"))
                assert weak.status_code == 400
                assert weak.json()["error"]["param"] == "new_password"
                for bad in ({"current_password": PASSWORD}, {**change(), "extra": 1}):
                    reply = await client.post("/v1/account/password", json=bad)
                    assert reply.status_code == 400, reply.text

                changed = await client.post("/v1/account/password", json=change())
                assert changed.status_code == 200, changed.text
                assert changed.json() == {"changed": True, "sessions_ended": 1}
                # The other browser is signed out; this one stays, with the same token.
                assert (await other.get("/v1/account/session")).status_code == 401
                me = await client.get("/v1/account/session")
                assert me.status_code == 200 and me.json()["csrf_token"] == body["csrf_token"]
                made = await client.post("/v1/account/keys", json={"name": "after"})
                assert made.status_code == 201

                old = await other.post("/v1/account/login", json=login)
                assert old.status_code == 401
                assert old.json()["error"]["code"] == "invalid_credentials"
                new = {"login": "changer", "password": NEW_PASSWORD}
                assert (await other.post("/v1/account/login", json=new)).status_code == 200


async def test_wrong_current_passphrases_count_as_failed_logins(
    store_target: tuple[str | None, str | None],
) -> None:
    async with self_service(store_target) as running:
        async with signed_up(running, "guessed") as (client, _):
            wrong = change(current="not the passphrase")
            for _ in range(LOGIN_FAILURES_PER_NAME):
                reply = await client.post("/v1/account/password", json=wrong)
                assert reply.status_code == 401
                assert reply.json()["error"]["code"] == "invalid_credentials"
            locked = await client.post("/v1/account/password", json=wrong)
            assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
            # The same throttle as login: the name is locked there too, even when right.
            right = await client.post("/v1/account/password", json=change())
            assert right.status_code == 429
            async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as other:
                login = {"login": "guessed", "password": PASSWORD}
                assert (await other.post("/v1/account/login", json=login)).status_code == 429
            # Nothing changed, and this session still works.
            assert (await client.get("/v1/account/session")).status_code == 200


async def test_keys_are_renamed_by_their_own_account_only(
    store_target: tuple[str | None, str | None],
) -> None:
    async with self_service(store_target) as running:
        async with (
            signed_up(running, "alice") as (alice, _),
            signed_up(running, "mallory") as (
                mallory,
                _,
            ),
        ):
            key = (await alice.post("/v1/account/keys", json={"name": "old", "rpm": 5})).json()
            renamed = await alice.patch(f"/v1/account/keys/{key['id']}", json={"name": "laptop"})
            assert renamed.status_code == 200, renamed.text
            assert (renamed.json()["name"], renamed.json()["rpm"]) == ("laptop", 5)
            assert "key" not in renamed.json()  # the secret is shown once, at creation only
            [listed] = (await alice.get("/v1/account/keys")).json()["keys"]
            assert listed["name"] == "laptop"

            for bad in ({"name": ""}, {"name": "x" * (MAX_LABEL_CHARS + 1)}, {"name": 7}, {}):
                reply = await alice.patch(f"/v1/account/keys/{key['id']}", json=bad)
                assert reply.status_code == 400, (bad, reply.text)
                assert reply.json()["error"]["param"] == "name"
            forged = await alice.patch(
                f"/v1/account/keys/{key['id']}", json={"name": "x"}, headers=NO_CSRF
            )
            assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"

            mkey = (await alice.post("/v1/account/management-keys", json={"name": "ci"})).json()
            theirs = [f"/v1/account/keys/{key['id']}", f"/v1/account/management-keys/{mkey['id']}"]
            for path in [*theirs, "/v1/account/keys/key_missing"]:
                stolen = await mallory.patch(path, json={"name": "mine"})
                assert stolen.status_code == 404, (path, stolen.text)
            [listed] = (await alice.get("/v1/account/keys")).json()["keys"]
            assert listed["name"] == "laptop"

            # Management keys have names too; a management key may rename.
            as_key = {"Authorization": f"Bearer {mkey['key']}"}
            async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as bare:
                path = f"/v1/account/management-keys/{mkey['id']}"
                by_key = await bare.patch(path, json={"name": "deploy"}, headers=as_key)
                assert by_key.status_code == 200 and by_key.json()["name"] == "deploy"
                api = await bare.patch(
                    f"/v1/account/keys/{key['id']}", json={"name": "desk"}, headers=as_key
                )
                assert api.status_code == 200 and api.json()["name"] == "desk"
            [listed] = (await alice.get("/v1/account/management-keys")).json()["keys"]
            assert listed["name"] == "deploy"

            # A revoked key keeps its name: renaming it is a conflict.
            assert (await alice.delete(f"/v1/account/keys/{key['id']}")).status_code == 200
            late = await alice.patch(f"/v1/account/keys/{key['id']}", json={"name": "late"})
            assert late.status_code == 409
