"""Dashboard sign-in: `/dashboard/login`, `/dashboard/signup`, `/dashboard/logout`, and
`signed_in_page`, the decorator every other page uses.

The forms call the same `selfservice.accounts` functions as the JSON API and start the
same session (cookie `switchyard_session`). Every form carries a CSRF token: before
sign-in the double-submit `switchyard_csrf` cookie's, after it the session's
(`http/session_auth.py`). A refused form is shown again with the message and the 4xx
status, the typed fields kept (never the passphrase). `?next=` returns to the page that
asked for sign-in, only ever a `/dashboard` path.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec

from quart import Response, redirect, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ..protocol.errors import ApiError, validate_body
from ..protocol.limits import MIN_PASSWORD_CHARS
from ..protocol.selfservice_api import LogIn, SignUp
from ..selfservice.accounts import account_gone
from ..selfservice.sessions import SESSION_COOKIE, end_session, start_session
from ..storage.models import Account
from . import session_auth
from .context import coordinator
from .dashboard_pages import dashboard, form_fields, render_page, signed_in_account
from .session_auth import (
    Principal,
    check_csrf,
    clear_session_cookie,
    current_account,
    require_principal,
    set_session_cookie,
)

P = ParamSpec("P")
AnyResponse = Response | WerkzeugResponse
MAX_NEXT_CHARS = 512


async def signed_in_principal() -> Principal:
    """The signed-in caller of a `signed_in_page` route (401 page if there is none)."""
    principal = await current_account()
    if principal is None:
        raise account_gone()
    return principal


def signed_in_page(
    route: Callable[P, Awaitable[AnyResponse]],
) -> Callable[P, Awaitable[AnyResponse]]:
    """A page for signed-in accounts: others are sent to the login page (then back);
    a state-changing request must carry the session's CSRF token (else a 403 page)."""

    @functools.wraps(route)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> AnyResponse:
        if await signed_in_account() is None:
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("dashboard.login", next=back))
        await require_principal()
        return await route(*args, **kwargs)

    return wrapper


def _safe_next(value: str | None) -> str:
    """`value` if it is a dashboard path on this site, else the overview."""
    if (
        value
        and len(value) <= MAX_NEXT_CHARS
        and value.startswith("/dashboard")
        and "\\" not in value
        and not value.startswith("//")
    ):
        return value
    return url_for("dashboard.overview")


async def _start(account: Account, to: str) -> AnyResponse:
    coord = coordinator()
    _, raw = await start_session(coord.store, account.id, coord.settings.session_ttl_s)
    response = redirect(to, 303)
    set_session_cookie(response, raw)  # type: ignore[arg-type]
    return response


@dashboard.route("/login", methods=["GET", "POST"])
async def login() -> AnyResponse:
    if request.method == "GET":
        if await signed_in_account() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return await _login_page(request.args.get("next"), {})
    form = await form_fields()
    try:
        await check_csrf(form.get("csrf_token"))
        body = validate_body(
            {"login": form.get("login", ""), "password": form.get("password", "")}, LogIn
        )
        account = await session_auth.log_in(body)
    except ApiError as exc:
        return await _login_page(form.get("next"), form, exc)
    return await _start(account, _safe_next(form.get("next")))


async def _login_page(
    next_url: str | None, form: dict[str, str], exc: ApiError | None = None
) -> Response:
    response = await render_page(
        "login.html",
        status=exc.status if exc else 200,
        title="Log in",
        error=exc.message if exc else None,
        form=form,
        next_url=_safe_next(next_url),
    )
    if exc is not None:
        response.headers.update(exc.headers())
    return response


@dashboard.route("/signup", methods=["GET", "POST"])
async def signup() -> AnyResponse:
    if request.method == "GET":
        form = {"invite_code": request.args.get("code", "")[:256]}
        return await _signup_page(form)
    form = await form_fields()
    try:
        await check_csrf(form.get("csrf_token"))
        fields = ("invite_code", "login", "password")
        body = validate_body({name: form.get(name, "") for name in fields}, SignUp)
        account = await session_auth.sign_up(body)
    except ApiError as exc:
        return await _signup_page(form, exc)
    return await _start(account, url_for("dashboard.keys"))


async def _signup_page(form: dict[str, str], exc: ApiError | None = None) -> Response:
    response = await render_page(
        "signup.html",
        status=exc.status if exc else 200,
        title="Sign up",
        error=exc.message if exc else None,
        form=form,
        min_passphrase=MIN_PASSWORD_CHARS,
    )
    if exc is not None:
        response.headers.update(exc.headers())
    return response


@dashboard.post("/logout")
async def logout() -> AnyResponse:
    if await current_account() is not None:
        await check_csrf()
        await end_session(coordinator().store, request.cookies.get(SESSION_COOKIE))
    response = redirect(url_for("dashboard.login"), 303)
    clear_session_cookie(response)  # type: ignore[arg-type]
    return response
