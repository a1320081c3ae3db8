"""What every dashboard page shares: the blueprint, rendering, headers and error pages.

Pages are Jinja templates (`templates/dashboard/`) rendered by Quart with autoescaping;
the stylesheet is `static/dashboard/dashboard.css`, served at `/dashboard/static/`. No
page runs a script or loads anything from another origin, and the Content-Security-Policy
says so (`script-src 'none'`), so an escaped-by-mistake name still cannot run code. Forms
post to the dashboard itself; the billing form's answer redirects to Stripe Checkout, so
`form-action` is not restricted.

Errors raised while handling a dashboard route (a typed `ApiError`, a `StoreError`, an
HTTP error) become an HTML page with the message and the status, never JSON or a 500.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from quart import Blueprint, Response, render_template, request
from werkzeug.exceptions import HTTPException, NotFound

from ..protocol.errors import ApiError, http_error
from ..storage.errors import StoreError
from ..storage.models import Account
from .context import coordinator
from .errors import store_error_to_api_error
from .session_auth import csrf_token, current_account
from .svg_chart import format_micro_usd, format_tokens

log = logging.getLogger(__name__)

dashboard = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder="static/dashboard",
    static_url_path="/static",
)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


# What a `?done=` redirect may say: fixed texts, so nothing from the URL is reflected.
NOTICES = {
    "limits": "Limits saved.",
    "renamed": "Key renamed.",
    "password": "Passphrase changed. Every other session of this account is signed out.",
    "revoked": "Key revoked: it stops working within a few seconds.",
    "paid": "Payment received. Your balance is credited as soon as Stripe confirms it, "
    "usually within seconds.",
    "cancelled": "Checkout cancelled: nothing was charged.",
    "drain": "The node is draining: it finishes its requests and takes no new ones.",
    "disconnect": "The node was disconnected; its agent may reconnect.",
    "revoke": "The node's provider token is revoked and the node disconnected.",
    "listed": "The node now appears on the public leaderboard.",
    "unlisted": "The node no longer appears on the public leaderboard.",
}


def notice_for(done: str | None) -> str | None:
    """The fixed notice for a `?done=` value (None for anything else)."""
    return NOTICES.get(done or "")


def when(value: str | datetime | None) -> str:
    """A timestamp (ISO text or datetime) as `2026-11-30 09:12 UTC`; `never` for None."""
    if value is None:
        return "never"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@dashboard.context_processor
async def _formatters() -> dict[str, Any]:
    return {"money": format_micro_usd, "tokens": format_tokens, "when": when}


async def form_fields() -> dict[str, str]:
    """The posted form's text fields (bounded by the app's body limit)."""
    form = await request.form
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def signed_in_account() -> Account | None:
    """The signed-in account's record (None when signed out or the account is gone)."""
    principal = await current_account()
    if principal is None:
        return None
    return await coordinator().store.get_account(principal.account_id)


async def render_page(
    template: str, *, status: int = 200, title: str = "", **context: Any
) -> Response:
    """`templates/dashboard/<template>` as an HTML response with `status`.

    Every page gets `title`, `account` (None when signed out) and `csrf_token`.
    """
    account = await signed_in_account()
    merged = {"account": account, "csrf_token": await csrf_token(), "title": title, **context}
    html = await render_template(f"dashboard/{template}", **merged)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


@dashboard.after_request
async def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


async def error_page(exc: ApiError) -> Response:
    """`exc` as the dashboard's error page (its status, message and Retry-After)."""
    response = await render_page(
        "error.html", status=exc.status, title=f"Error {exc.status}", error=exc.message
    )
    response.headers.update(exc.headers())
    return response


@dashboard.route("/<path:unknown>")
async def _no_such_page(unknown: str) -> Response:
    """Any other path under /dashboard: the HTML 404 page (not the API's JSON)."""
    raise NotFound()


@dashboard.errorhandler(ApiError)
async def _api_error(exc: ApiError) -> Response:
    return await error_page(exc)


@dashboard.errorhandler(StoreError)
async def _store_error(exc: StoreError) -> Response:
    return await error_page(store_error_to_api_error(exc))


@dashboard.errorhandler(HTTPException)
async def _http_error(exc: HTTPException) -> Response:
    if exc.code in (301, 302, 303, 307, 308):  # redirects raised as exceptions pass through
        return exc.get_response()  # type: ignore[return-value]
    return await error_page(http_error(exc.code or 500, exc.description or exc.name))
