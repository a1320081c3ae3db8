"""Sessions: start one for an account, resolve a presented token, end it.

The raw token (`ss-sy-…`) lives only in the client's `switchyard_session` cookie; the
store keeps its SHA-256 hash, the account, the session's CSRF token and its expiry.
A session lasts `Settings.session_ttl_s` from sign-in; signing out deletes it at once.
"""

from __future__ import annotations

from datetime import timedelta

from ..storage.models import utc_now
from ..storage.protocol import Store
from ..storage.selfservice import SessionRecord
from .csrf import new_csrf_token

SESSION_COOKIE = "switchyard_session"


async def start_session(store: Store, account_id: str, ttl_s: float) -> tuple[SessionRecord, str]:
    """A new session for the account: (record, raw token for the cookie)."""
    expires = utc_now() + timedelta(seconds=ttl_s)
    return await store.create_session(account_id, new_csrf_token(), expires)


async def resolve_session(store: Store, raw_token: str | None) -> SessionRecord | None:
    """The live session of a cookie value, or None."""
    if not raw_token:
        return None
    return await store.get_session(raw_token, utc_now())


async def end_session(store: Store, raw_token: str | None) -> None:
    """Sign out: forget the session (no-op without one)."""
    if raw_token:
        await store.end_session(raw_token)
