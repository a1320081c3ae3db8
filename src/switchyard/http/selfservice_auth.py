"""Sign-up, login, logout and the current session (README, "Self-service").

- `POST /v1/signup` `{"invite_code", "login", "password"}` → 201, a session cookie and
  `{"account", "csrf_token", "expires_at"}`;
- `POST /v1/account/login` `{"login", "password"}` → 200, the same;
- `POST /v1/account/logout` → 200, the session ended and its cookie cleared;
- `GET /v1/account/session` → `{"account", "via", "csrf_token"}` of the signed-in caller;
- `POST /v1/account/password` `{"current_password", "new_password"}` → 200
  `{"changed": true, "sessions_ended": n}`: session only (a management key is 403), CSRF
  token required, a wrong current passphrase is a failed login (401, then 429); every
  other session of the account ends, this one stays signed in.

Sign-up and login take only `application/json` (415 otherwise): a cross-site HTML form
cannot send that type, so no other site can sign a visitor in to an account of its choice.
Errors are the typed ones of `selfservice/accounts.py`.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from ..protocol.errors import ApiError, parse_json_body
from ..protocol.selfservice_api import ChangePassword, LogIn, SignUp
from ..protocol.vocabulary import ApiErrorCode
from ..selfservice import accounts
from ..selfservice.sessions import SESSION_COOKIE, end_session, start_session
from ..storage.models import Account
from ..storage.selfservice import SessionRecord
from . import session_auth
from .context import coordinator
from .session_auth import (
    AuthKind,
    check_csrf,
    clear_session_cookie,
    current_account,
    require_principal,
    set_session_cookie,
)

selfservice_auth = Blueprint("selfservice_auth", __name__)


def account_json(account: Account) -> dict[str, Any]:
    """The account as the self-service API shows it."""
    return {
        "id": account.id,
        "name": account.name,
        "balance_micro_usd": account.balance_micro_usd,
        "earnings_micro_usd": account.earnings_micro_usd,
    }


async def _json_body(model: type[Any]) -> Any:
    if request.mimetype != "application/json":
        raise ApiError(
            415, "Send the body as application/json.", code=ApiErrorCode.UNSUPPORTED_MEDIA_TYPE
        )
    raw = await request.get_data()
    return parse_json_body(raw, model, max_bytes=coordinator().settings.max_body_bytes)


async def _signed_in(account: Account, status: int) -> tuple[Response, int]:
    coord = coordinator()
    session, raw = await start_session(coord.store, account.id, coord.settings.session_ttl_s)
    response = jsonify(_session_json(account, session))
    set_session_cookie(response, raw)
    return response, status


def _session_json(account: Account, session: SessionRecord) -> dict[str, Any]:
    return {
        "account": account_json(account),
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at.isoformat(),
    }


@selfservice_auth.post("/v1/signup")
async def sign_up() -> tuple[Response, int]:
    body = await _json_body(SignUp)
    account = await session_auth.sign_up(body)
    return await _signed_in(account, 201)


@selfservice_auth.post("/v1/account/login")
async def log_in() -> tuple[Response, int]:
    body = await _json_body(LogIn)
    account = await session_auth.log_in(body)
    return await _signed_in(account, 200)


@selfservice_auth.post("/v1/account/logout")
async def log_out() -> Response:
    principal = await current_account()
    if principal is not None and principal.via is AuthKind.SESSION:
        await check_csrf()
        await end_session(coordinator().store, request.cookies.get(SESSION_COOKIE))
    response = jsonify({"signed_out": True})
    clear_session_cookie(response)
    return response


@selfservice_auth.get("/v1/account/session")
async def show_session() -> Response:
    principal = await require_principal()
    account = await coordinator().store.get_account(principal.account_id)
    if account is None:
        raise accounts.account_gone()
    return jsonify(
        {
            "account": account_json(account),
            "via": principal.via.value,
            "csrf_token": principal.session.csrf_token if principal.session else None,
        }
    )


@selfservice_auth.post("/v1/account/password")
async def change_password() -> Response:
    principal = await require_principal()  # checks the CSRF token of a session
    raw = await request.get_data()
    coord = coordinator()
    body = parse_json_body(raw, ChangePassword, max_bytes=coord.settings.max_body_bytes)
    ended = await accounts.change_password(
        coord.selfservice,
        coord.store,
        session=principal.session,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return jsonify({"changed": True, "sessions_ended": ended})
