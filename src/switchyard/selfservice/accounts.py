"""Sign-up (with an invite code), login (login name + passphrase) and changing the
passphrase, rate-limited.

All are shared by the JSON API (`http/selfservice_*.py`) and the dashboard; each
raises a typed `ApiError` the caller renders:
- 400 for a malformed login name or passphrase (the new one's field is `new_password`);
- 403 `invite_code_invalid` (unknown, revoked, expired or used up: the message says which);
- 409 `login_taken`;
- 401 `invalid_credentials` for a wrong name or passphrase (the same answer and the same
  work for both, so names cannot be probed), or a wrong current passphrase when changing
  it (counted as a failed login of the account's login name);
- 403 when a passphrase change comes with a management key rather than a session;
- 429 with `Retry-After` when the client address made too many attempts, or the login
  name failed too often (`protocol/limits.py`: LOGIN_FAILURES_PER_NAME,
  AUTH_ATTEMPTS_PER_ADDRESS within LOGIN_WINDOW_S).
"""

from __future__ import annotations

import re

from ..client_address import throttle_key
from ..protocol.errors import (
    ApiError,
    authentication_failed,
    conflict,
    invalid_request,
    permission_denied,
    rate_limited,
)
from ..protocol.limits import LOGIN_NAME_PATTERN, MAX_PASSWORD_CHARS
from ..protocol.vocabulary import ApiErrorCode
from ..storage.models import Account, utc_now
from ..storage.protocol import Store
from ..storage.selfservice import InviteRefused, LoginTaken, SessionRecord
from .passwords import check_password
from .state import SelfServiceState

_LOGIN_RE = re.compile(LOGIN_NAME_PATTERN)
MAX_LOGIN_CHARS = 64


def check_login_name(login: str, param: str = "login") -> str:
    """The login name, lower-cased, if well formed; else a 400 naming `param`."""
    if not _LOGIN_RE.match(login):
        raise invalid_request(
            "A login name is 3 to 64 letters, digits or . _ @ -, starting with a letter or digit.",
            param=param,
        )
    return login.lower()


def _throttled(retry_after: float, what: str) -> ApiError:
    return rate_limited(retry_after, f"Too many {what}; try again later.")


async def admit_attempt(state: SelfServiceState, address: str) -> None:
    """Count one sign-up/login/device-code attempt from `address` (429 when over); IPv6
    clients count per /64 (`throttle_key`)."""
    wait = await state.address_attempts.take(throttle_key(address))
    if wait is not None:
        raise _throttled(wait, "attempts from this address")


async def sign_up(
    state: SelfServiceState,
    store: Store,
    *,
    invite_code: str,
    login: str,
    password: str,
    address: str,
) -> Account:
    """Create an account with its login, taking one use of the invite code."""
    name = check_login_name(login)
    check_password(password)
    await admit_attempt(state, address)
    hashed = await state.passwords.hash(password)
    try:
        return await store.sign_up(invite_code, name, hashed, utc_now())
    except InviteRefused as exc:
        raise _invite_refused(str(exc)) from None
    except LoginTaken:
        raise conflict(
            "That login name is taken; choose another.", param="login",
            code=ApiErrorCode.LOGIN_TAKEN,
        ) from None  # fmt: skip


def _invite_refused(why: str) -> ApiError:
    return permission_denied(
        f"Sign-up refused: {why}.", param="invite_code", code=ApiErrorCode.INVITE_CODE_INVALID
    )


async def log_in(
    state: SelfServiceState, store: Store, *, login: str, password: str, address: str
) -> Account:
    """The account whose login name and passphrase these are (401 otherwise)."""
    name = login.lower()[:MAX_LOGIN_CHARS]  # bounds the throttle's keys
    wait = await state.login_failures.retry_after(name)
    if wait is not None:
        raise _throttled(wait, "failed logins for this name")
    await admit_attempt(state, address)
    well_formed = _LOGIN_RE.match(login) and len(password) <= MAX_PASSWORD_CHARS
    record = await store.get_login(name) if well_formed else None
    ok = await state.passwords.verify(None if record is None else record.password_hash, password)
    account = await store.get_account(record.account_id) if ok and record is not None else None
    if account is None:
        await state.login_failures.hit(name)
        raise authentication_failed(
            "Wrong login name or passphrase.", ApiErrorCode.INVALID_CREDENTIALS
        )
    await state.login_failures.clear(name)
    return account


async def change_password(
    state: SelfServiceState,
    store: Store,
    *,
    session: SessionRecord | None,
    current_password: str,
    new_password: str,
) -> int:
    """Replace the passphrase of `session`'s account, ending its other sessions (the
    caller's own stays signed in, same cookie and CSRF token); how many ended.

    Only a session may do this (`session` None, i.e. a management key: 403), so a leaked
    key cannot lock the owner out. A wrong `current_password` is a failed login of the
    account's login name: 401, and past LOGIN_FAILURES_PER_NAME within the window 429."""
    if session is None:
        raise permission_denied(
            "Sign in to change the passphrase: a management key cannot (a stolen key must "
            "not be able to take over the account)."
        )
    check_password(new_password, param="new_password")
    record = await store.get_login_of(session.account_id)
    name = None if record is None else record.login
    wait = None if name is None else await state.login_failures.retry_after(name)
    if wait is not None:
        raise _throttled(wait, "failed logins for this name")
    well_formed = len(current_password) <= MAX_PASSWORD_CHARS
    hashed = None if record is None or not well_formed else record.password_hash
    ok = await state.passwords.verify(hashed, current_password)
    if not ok or record is None:
        if name is not None:
            await state.login_failures.hit(name)
        raise authentication_failed(
            "The current passphrase is wrong.", ApiErrorCode.INVALID_CREDENTIALS
        )
    ended = await store.change_password(
        session.account_id, await state.passwords.hash(new_password), session.id
    )
    await state.login_failures.clear(record.login)
    return ended


def account_gone() -> ApiError:
    """401 for a session or key that outlived its account."""
    return authentication_failed("This account no longer exists.", ApiErrorCode.NOT_SIGNED_IN)
