"""Dashboard sign-up, login and logout over real HTTP with form posts, on both stores;
the attacks: missing CSRF, wrong passphrase, bad invite, open redirects, HTML in names."""

from __future__ import annotations

from switchyard.protocol.limits import LOGIN_FAILURES_PER_NAME

from .dashboard_helpers import dashboard_client, sign_up_form
from .selfservice_helpers import PASSWORD, invite, self_service


async def test_sign_up_log_out_and_log_in_again(
    store_target: tuple[str | None, str | None],
) -> None:
    async with self_service(store_target) as running, dashboard_client(running) as client:
        reply = await client.get("/dashboard/keys")
        assert reply.status_code == 302
        assert reply.headers["location"] == "/dashboard/login?next=/dashboard/keys"

        reply = await sign_up_form(client, running, "Walker")
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"] == "/dashboard/keys"
        assert "switchyard_session=" in reply.headers["set-cookie"]
        page = await client.get("/dashboard/keys")
        assert page.status_code == 200 and "walker" in page.text

        # Logging out needs the session's token; without it the session lives on.
        refused = await client.post("/dashboard/logout", {}, csrf=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
        assert (await client.get("/dashboard/keys")).status_code == 200
        out = await client.post("/dashboard/logout", {})
        assert out.status_code == 303
        assert (await client.get("/dashboard/keys")).status_code == 302

        await client.get("/dashboard/login?next=/dashboard/usage")
        back = await client.post(
            "/dashboard/login",
            {"login": "walker", "password": PASSWORD, "next": "/dashboard/usage"},
        )
        assert back.status_code == 303 and back.headers["location"] == "/dashboard/usage"


async def test_refused_forms_are_shown_again_with_the_reason() -> None:
    async with self_service() as running, dashboard_client(running) as client:
        await client.get("/dashboard/signup")
        bogus = await client.post(
            "/dashboard/signup",
            {"invite_code": "not-a-code", "login": "eve", "password": PASSWORD},
        )
        assert bogus.status_code == 403
        assert "Sign-up refused" in bogus.text and 'value="eve"' in bogus.text
        assert PASSWORD not in bogus.text

        code = await invite(running)
        short = await client.post(
            "/dashboard/signup", {"invite_code": code, "login": "eve", "password": "short"}
        )
        assert short.status_code == 400 and 'role="alert"' in short.text

        await sign_up_form(client, running, "mallory")
        await client.post("/dashboard/logout", {})
        await client.get("/dashboard/login")
        wrong = await client.post("/dashboard/login", {"login": "mallory", "password": "x" * 12})
        assert wrong.status_code == 401 and "Wrong login name or passphrase" in wrong.text

        missing = await client.post("/dashboard/login", {"login": "mallory"}, csrf=False)
        assert missing.status_code == 403  # no CSRF token before even checking the name

        for _ in range(LOGIN_FAILURES_PER_NAME):
            await client.post("/dashboard/login", {"login": "mallory", "password": "y" * 12})
        right = {"login": "mallory", "password": PASSWORD}
        throttled = await client.post("/dashboard/login", right)  # even the right passphrase
        assert throttled.status_code == 429 and "Too many" in throttled.text
        assert int(throttled.headers["retry-after"]) > 0


async def test_markup_in_input_is_escaped_and_next_stays_on_the_dashboard() -> None:
    async with self_service() as running, dashboard_client(running) as client:
        await client.get("/dashboard/login")
        evil = '"><script>alert(1)</script>'
        reply = await client.post("/dashboard/login", {"login": evil, "password": "x" * 12})
        assert reply.status_code == 401
        assert "<script>alert(1)" not in reply.text and "&lt;script&gt;" in reply.text
        assert "script-src 'none'" in reply.headers["content-security-policy"]

        await sign_up_form(client, running, "tourist")
        for target in ("https://evil.example/", "//evil.example/x", "/v1/models", "/\\evil"):
            page = await client.get(f"/dashboard/login?next={target}")
            assert page.status_code == 302 and page.headers["location"] == "/dashboard/"


async def test_an_oversized_form_is_a_413_page_not_a_crash() -> None:
    async with self_service(max_body_bytes=4096) as running, dashboard_client(running) as client:
        await client.get("/dashboard/login")
        reply = await client.post("/dashboard/login", {"login": "a" * 10_000, "password": "x"})
        assert reply.status_code == 413
