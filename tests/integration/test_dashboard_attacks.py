"""The dashboard's forms under attack, over real HTTP, on both stores: another account's
keys and nodes are 404 pages, a form without its CSRF token changes nothing, and
malformed or out-of-range input is a 4xx page with the reason, never a 500."""

from __future__ import annotations

import re

from .dashboard_helpers import DashboardClient, dashboard_client, sign_up_form
from .harness import Running
from .selfservice_helpers import agent_for, self_service

KEY_ROW = re.compile(r'data-key-id="([^"]+)"')


async def _new_key(client: DashboardClient, name: str) -> str:
    reply = await client.post("/dashboard/keys", {"name": name})
    assert reply.status_code == 201, reply.text
    return KEY_ROW.findall(reply.text)[-1]


async def _account_id(running: Running, login: str) -> str:
    listed = (await running.admin.get("/admin/accounts")).json()["accounts"]
    return next(a["id"] for a in listed if a["name"] == login)


async def test_another_accounts_keys_and_nodes_are_404(
    store_target: tuple[str | None, str | None],
) -> None:
    async with (
        self_service(store_target) as running,
        dashboard_client(running) as alice,
        dashboard_client(running) as bob,
    ):
        await sign_up_form(alice, running, "alice")
        await sign_up_form(bob, running, "bob")
        key_id = await _new_key(alice, "alice-key")
        await bob.get("/dashboard/keys")
        for path in (f"/dashboard/keys/{key_id}/revoke", f"/dashboard/keys/{key_id}/limits"):
            reply = await bob.post(path, {"rpm": "5"})
            assert reply.status_code == 404, reply.text
            assert "No key" in reply.text and reply.headers["content-type"].startswith("text/html")
        page = await alice.get("/dashboard/keys")
        assert "revoked</span>" not in page.text and "5 rpm" not in page.text

        async with agent_for(running, await _account_id(running, "alice")) as agent:
            node = agent.provider_id
            await bob.get("/dashboard/providers")
            for action in ("drain", "disconnect", "revoke", "listed"):
                reply = await bob.post(f"/dashboard/providers/{node}/{action}", {})
                assert reply.status_code == 404 and "No node" in reply.text
            assert node not in (await bob.get("/dashboard/providers")).text

            await alice.get("/dashboard/providers")
            drained = await alice.post(f"/dashboard/providers/{node}/drain", {})
            assert drained.status_code == 303
            assert drained.headers["location"] == "/dashboard/providers?done=drain"
            page = await alice.get(drained.headers["location"])
            assert "The node is draining" in page.text  # (an idle node then closes and redials)


async def test_forms_without_the_csrf_token_change_nothing() -> None:
    async with self_service() as running, dashboard_client(running) as client:
        await sign_up_form(client, running, "carol")
        key_id = await _new_key(client, "kept")
        for path, form in (
            ("/dashboard/keys", {"name": "sneaky"}),
            (f"/dashboard/keys/{key_id}/revoke", {}),
            (f"/dashboard/keys/{key_id}/limits", {"rpm": "1"}),
            ("/dashboard/billing", {"amount_usd": "20"}),
            ("/dashboard/device", {"user_code": "BCDF-GHJK", "decision": "approve"}),
        ):
            reply = await client.post(path, form, csrf=False)
            assert reply.status_code == 403, (path, reply.text)
            forged = await client.http.post(path, data={**form, "csrf_token": "forged"})
            assert forged.status_code == 403, path
        page = await client.get("/dashboard/keys")
        assert "sneaky" not in page.text and "revoked</span>" not in page.text


async def test_bad_input_is_a_4xx_page_with_the_reason() -> None:
    async with self_service(default_rpm=100) as running, dashboard_client(running) as client:
        await sign_up_form(client, running, "dave")
        cases = [
            ("/dashboard/keys", {"name": "k", "rpm": "abc"}, 400, "rpm must be a whole number"),
            ("/dashboard/keys", {"name": "k", "rpm": "1000"}, 400, "at most the account"),
            ("/dashboard/keys", {"name": "x" * 101}, 400, "name"),
            ("/dashboard/keys", {"name": "k", "tpm": "-5"}, 400, "tpm"),
            ("/dashboard/billing", {"amount_usd": "1"}, 503, "Stripe is not configured"),
            ("/dashboard/device", {"user_code": "not a code"}, 400, "8 letters"),
            ("/dashboard/device", {"user_code": "BCDF-GHJK"}, 404, "No pending device code"),
            ("/dashboard/device", {"user_code": "x" * 10_000}, 400, "8 letters"),
            ("/dashboard/providers/prov-x/explode", {}, 404, "Error 404"),
            ("/dashboard/providers/prov-x/drain", {}, 404, "No node"),
            ("/dashboard/keys/nope/limits", {"rpm": "5"}, 404, "No key"),
        ]
        for path, form, status, reason in cases:
            await client.get("/dashboard/keys")
            reply = await client.post(path, form)
            assert reply.status_code == status, (path, form, reply.text[-800:])
            assert reason in reply.text, (path, form)
            assert reply.headers["content-type"].startswith("text/html")
        assert (await client.get("/dashboard/usage?days=../../etc")).status_code == 200
        missing = await client.get("/dashboard/no/such/page")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        css = await client.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert (await client.get("/dashboard/device?user_code=%00%ff")).status_code == 400
        keys_page = await client.get("/dashboard/keys")
        assert "data-key-id" not in keys_page.text  # none of the refused keys exists


async def test_checkout_amounts_are_checked() -> None:
    from ..billing.helpers import billing_env

    async with billing_env(cookie_secure=False) as env:
        running = env.running
        async with dashboard_client(running) as client:
            await sign_up_form(client, running, "erin")
            await client.get("/dashboard/billing")
            for amount, reason in (
                ("1", "between"),
                ("nan", "amount_usd"),
                ("1e309", "amount_usd"),
                ("12.345", "whole number of cents"),
                ("", "Give an amount"),
            ):
                reply = await client.post("/dashboard/billing", {"amount_usd": amount})
                assert reply.status_code == 400, (amount, reply.text[-500:])
                assert reason in reply.text, amount
            assert env.stripe.sessions == {}
            ok = await client.post("/dashboard/billing", {"amount_usd": "25"})
            assert ok.status_code == 303
            [session] = env.stripe.sessions.values()
            assert ok.headers["location"] == session["url"]
            assert session["amount_total"] == 2500
