"""`csrf_token()` / `check_csrf()` / `require_account` as the dashboard uses them: a
double-submit cookie before sign-in, the session's token after, redirects for pages."""

from __future__ import annotations

from quart import Response, jsonify

from switchyard.http.app import create_app
from switchyard.http.session_auth import check_csrf, csrf_token, require_account

from .selfservice_helpers import self_service, signed_up


async def test_double_submit_before_sign_in_and_session_token_after() -> None:
    async with self_service() as running:
        app = create_app(running.coord)  # a second app on the same coordinator

        @app.get("/t/csrf")
        async def give() -> Response:
            return jsonify({"token": await csrf_token()})

        @app.post("/t/csrf")
        async def take() -> Response:
            await check_csrf()
            return jsonify({"ok": True})

        @app.get("/t/page")
        @require_account(redirect_to="/t/login")
        async def page() -> Response:
            return jsonify({"page": True})

        client = app.test_client()
        anonymous = await client.get("/t/csrf")
        token = (await anonymous.get_json())["token"]
        cookie = anonymous.headers["Set-Cookie"]
        assert cookie.startswith(f"switchyard_csrf={token}") and "HttpOnly" in cookie
        assert (await client.post("/t/csrf", form={"csrf_token": token})).status_code == 200
        assert (await client.post("/t/csrf", headers={"X-CSRF-Token": "x"})).status_code == 403
        assert (await client.post("/t/csrf")).status_code == 403
        again = await client.get("/t/csrf")
        assert (await again.get_json())["token"] == token  # the cookie's, not a new one
        redirected = await client.get("/t/page")
        assert redirected.status_code == 302 and redirected.headers["Location"] == "/t/login"

        async with signed_up(running, "csrf-user") as (web, body):
            session = web.cookies["switchyard_session"]
        signed = app.test_client()
        headers = {"Cookie": f"switchyard_session={session}"}
        mine = await signed.get("/t/csrf", headers=headers)
        assert (await mine.get_json())["token"] == body["csrf_token"]
        ok = await signed.post("/t/csrf", headers={**headers, "X-CSRF-Token": body["csrf_token"]})
        assert ok.status_code == 200
        stale = await signed.post("/t/csrf", headers={**headers, "X-CSRF-Token": token})
        assert stale.status_code == 403  # a pre-session token is no longer enough
        assert (await signed.get("/t/page", headers=headers)).status_code == 200
