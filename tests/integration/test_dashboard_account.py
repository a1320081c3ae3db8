"""The dashboard's account page (change the passphrase) and inline key rename, posted as
forms over real HTTP with the session cookie and CSRF token, on both stores."""

from __future__ import annotations

import re

from .dashboard_helpers import dashboard_client, sign_up_form
from .selfservice_helpers import PASSWORD, self_service

KEY_ROW = re.compile(r'data-key-id="([^"]+)"')
NEW_PASSWORD = "a brand new passphrase"


async def test_passphrase_is_changed_from_the_account_page(
    store_target: tuple[str | None, str | None],
) -> None:
    async with (
        self_service(store_target) as running,
        dashboard_client(running) as client,
        dashboard_client(running) as elsewhere,
    ):
        await sign_up_form(client, running, "settler")
        await elsewhere.get("/dashboard/login")
        signed_in = await elsewhere.post(
            "/dashboard/login", {"login": "settler", "password": PASSWORD}
        )
        assert signed_in.status_code == 303

        page = await client.get("/dashboard/account")
        assert page.status_code == 200 and 'id="change-password"' in page.text
        assert 'aria-current="page"' in page.text and "settler" in page.text

        forged = await client.post(
            "/dashboard/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            csrf=False,
        )
        assert forged.status_code == 403 and "CSRF" in forged.text
        wrong = await client.post(
            "/dashboard/account/password",
            {"current_password": "not the passphrase", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 401 and "The current passphrase is wrong" in wrong.text
        assert wrong.headers["content-type"].startswith("text/html")
        weak = await client.post(
            "/dashboard/account/password", {"current_password": PASSWORD, "new_password": "short"}
        )
        assert weak.status_code == 400 and "The passphrase must be" in weak.text
        assert PASSWORD not in weak.text  # a refused form never echoes a passphrase

        changed = await client.post(
            "/dashboard/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/dashboard/account?done=password"
        result = await client.get(changed.headers["location"])
        assert result.status_code == 200 and "Passphrase changed." in result.text
        # The other browser is signed out; this one still is signed in.
        assert (await elsewhere.get("/dashboard/keys")).status_code == 302
        assert (await client.get("/dashboard/keys")).status_code == 200

        await elsewhere.get("/dashboard/login")
        old = await elsewhere.post("/dashboard/login", {"login": "settler", "password": PASSWORD})
        assert old.status_code == 401
        new = await elsewhere.post(
            "/dashboard/login", {"login": "settler", "password": NEW_PASSWORD}
        )
        assert new.status_code == 303


async def test_a_key_is_renamed_inline_on_the_keys_page(
    store_target: tuple[str | None, str | None],
) -> None:
    async with (
        self_service(store_target) as running,
        dashboard_client(running) as alice,
        dashboard_client(running) as bob,
    ):
        await sign_up_form(alice, running, "alice")
        await sign_up_form(bob, running, "bob")
        created = await alice.post("/dashboard/keys", {"name": "old-name"})
        assert created.status_code == 201
        [key_id] = KEY_ROW.findall(created.text)
        page = await alice.get("/dashboard/keys")
        assert f'action="/dashboard/keys/{key_id}/name"' in page.text

        renamed = await alice.post(f"/dashboard/keys/{key_id}/name", {"name": "  laptop  "})
        assert renamed.status_code == 303
        assert renamed.headers["location"] == "/dashboard/keys?done=renamed"
        page = await alice.get(renamed.headers["location"])
        assert "Key renamed." in page.text and 'value="laptop"' in page.text
        assert "old-name" not in page.text

        blank = await alice.post(f"/dashboard/keys/{key_id}/name", {"name": "   "})
        assert blank.status_code == 400 and "name" in blank.text
        forged = await alice.post(f"/dashboard/keys/{key_id}/name", {"name": "x"}, csrf=False)
        assert forged.status_code == 403
        await bob.get("/dashboard/keys")
        stolen = await bob.post(f"/dashboard/keys/{key_id}/name", {"name": "mine"})
        assert stolen.status_code == 404 and "No key" in stolen.text
        page = await alice.get("/dashboard/keys")
        assert 'value="laptop"' in page.text and 'value="mine"' not in page.text
