"""Who is signed in: `current_account()`, `require_account`, `csrf_token()`, `check_csrf()`.

An account is identified by either
- the session cookie `switchyard_session` (HttpOnly, SameSite=Lax, Secure unless
  `SWITCHYARD_COOKIE_SECURE=false`), set by sign-up and login; a state-changing request
  (POST, PUT, PATCH, DELETE) made with it must carry the session's CSRF token in the
  `X-CSRF-Token` header or a `csrf_token` form field, else 403 `csrf_failed`; or
- an account-management key, `Authorization: Bearer ak-sy-…` (no CSRF token: browsers
  never send that header by themselves). An API key (`sk-sy-…`) is not one: it calls
  the inference API only.

`csrf_token()` is a coroutine (it may look the session up): await it in the route.
`require_account` answers 401 `not_signed_in` JSON, or, given `redirect_to`, redirects
there (the dashboard's login page). The result is cached on the request (`g`).
`sign_up(body)` and `log_in(body)` run the self-service steps for this client (the JSON
routes and the dashboard's forms share them). `client_address()` is this client's address:
the socket peer, or behind a trusted proxy (`SWITCHYARD_TRUSTED_PROXIES`) the client that
`X-Forwarded-For` names (`switchyard/client_address.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from quart import Response, after_this_request, g, redirect, request
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ..client_address import client_address as resolve_client_address
from ..client_address import parse_trusted_proxies
from ..protocol.errors import authentication_failed, permission_denied
from ..protocol.selfservice_api import LogIn, SignUp
from ..protocol.vocabulary import ApiErrorCode
from ..selfservice import accounts
from ..selfservice.csrf import (
    CSRF_COOKIE,
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    new_csrf_token,
    tokens_match,
)
from ..selfservice.sessions import SESSION_COOKIE, resolve_session
from ..storage.models import Account
from ..storage.selfservice import ACCOUNT_KEY_PREFIX, SessionRecord
from .context import bearer_token, coordinator

P = ParamSpec("P")
R = TypeVar("R")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CACHE = "switchyard_principal"


class AuthKind(StrEnum):
    """How the caller proved who it is."""

    SESSION = "session"
    MANAGEMENT_KEY = "management_key"


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in account of a request."""

    account_id: str
    via: AuthKind
    session: SessionRecord | None = None  # set when `via` is SESSION
    key_id: str | None = None  # set when `via` is MANAGEMENT_KEY


async def current_account() -> Principal | None:
    """The account of the current request (management key first, then the cookie)."""
    if _CACHE in g:
        cached: Principal | None = g.get(_CACHE)
        return cached
    principal = await _resolve()
    setattr(g, _CACHE, principal)
    return principal


async def _resolve() -> Principal | None:
    store = coordinator().store
    token = bearer_token(request.headers)
    if token is not None and token.startswith(ACCOUNT_KEY_PREFIX):
        key = await store.lookup_account_key(token)
        return (
            None
            if key is None
            else Principal(key.account_id, AuthKind.MANAGEMENT_KEY, None, key.id)
        )
    session = await resolve_session(store, request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    return Principal(session.account_id, AuthKind.SESSION, session)


async def csrf_token() -> str:
    """The token a form or script must echo: the session's when signed in; otherwise a
    double-submit token, set as the `switchyard_csrf` cookie on this response. (Call it
    in the route and hand the value to the template.)"""
    principal = await current_account()
    if principal is not None and principal.session is not None:
        return principal.session.csrf_token
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    if "switchyard_new_csrf" not in g:
        token = new_csrf_token()
        g.switchyard_new_csrf = token
        secure = coordinator().settings.cookie_secure

        @after_this_request
        async def _set_cookie(
            response: Response | WerkzeugResponse,
        ) -> Response | WerkzeugResponse:
            response.set_cookie(
                CSRF_COOKIE, token, httponly=True, samesite="Lax", secure=secure, path="/"
            )
            return response

    return str(g.switchyard_new_csrf)


async def presented_csrf() -> str | None:
    """The token the request echoes (header, else a form field)."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form
        value = form.get(CSRF_FORM_FIELD)
        return value if isinstance(value, str) else None
    return None


async def check_csrf(presented: str | None = None) -> None:
    """403 `csrf_failed` unless `presented` (default: the request's own) matches the
    session's token, or before sign-in the double-submit cookie."""
    if presented is None:
        presented = await presented_csrf()
    principal = await current_account()
    if principal is not None and principal.via is AuthKind.MANAGEMENT_KEY:
        return
    if principal is not None and principal.session is not None:
        expected: str | None = principal.session.csrf_token
    else:
        expected = request.cookies.get(CSRF_COOKIE)
    if not tokens_match(expected, presented):
        raise permission_denied(
            f"Missing or wrong CSRF token (send the {CSRF_HEADER} header).",
            code=ApiErrorCode.CSRF_FAILED,
        )


async def require_principal() -> Principal:
    """The signed-in account (401 `not_signed_in` otherwise); checks CSRF on changes."""
    principal = await current_account()
    if principal is None:
        raise authentication_failed(
            "Sign in first (session cookie) or send an account-management key "
            "(Authorization: Bearer ak-sy-...).",
            ApiErrorCode.NOT_SIGNED_IN,
        )
    if principal.via is AuthKind.SESSION and request.method in UNSAFE_METHODS:
        await check_csrf()
    return principal


def require_account(
    redirect_to: str | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[Any]]]:
    """Decorate a route that needs a signed-in account (see module docstring)."""

    def decorate(route: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[Any]]:
        @functools.wraps(route)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            if redirect_to is not None and await current_account() is None:
                return redirect(redirect_to)
            await require_principal()
            return await route(*args, **kwargs)

        return wrapper

    return decorate


def set_session_cookie(response: Response, raw_token: str) -> None:
    """Attach the session cookie (see module docstring for its attributes)."""
    settings = coordinator().settings
    response.set_cookie(
        SESSION_COOKIE,
        raw_token,
        max_age=settings.session_ttl_s,
        httponly=True,
        samesite="Lax",
        secure=settings.cookie_secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    """Remove the session cookie from the client."""
    settings = coordinator().settings
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="Lax", secure=settings.cookie_secure, path="/"
    )


def client_address() -> str:
    """The client's address: the socket peer, or behind a trusted proxy the one
    `X-Forwarded-For` names (`switchyard/client_address.py`; throttles count it through
    `throttle_key`)."""
    trusted = parse_trusted_proxies(coordinator().settings.trusted_proxies)
    forwarded = request.headers.getlist("X-Forwarded-For") if trusted else []
    return resolve_client_address(request.remote_addr, forwarded, trusted)


async def sign_up(body: SignUp) -> Account:
    """Create the account `body` asks for (its invite code spent), for this client."""
    coord = coordinator()
    return await accounts.sign_up(
        coord.selfservice,
        coord.store,
        invite_code=body.invite_code,
        login=body.login,
        password=body.password,
        address=client_address(),
    )


async def log_in(body: LogIn) -> Account:
    """The account whose login and passphrase `body` gives (throttled per name and client)."""
    coord = coordinator()
    return await accounts.log_in(
        coord.selfservice,
        coord.store,
        login=body.login,
        password=body.password,
        address=client_address(),
    )
