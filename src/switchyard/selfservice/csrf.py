"""CSRF tokens: random, compared in constant time.

A signed-in session carries its own token (`SessionRecord.csrf_token`, created with the
session); a state-changing request made with the session cookie must echo it in the
`X-CSRF-Token` header or a `csrf_token` form field (`http/session_auth.py` checks). Before
sign-in (the dashboard's login and sign-up forms) the token is a double-submit cookie,
`switchyard_csrf`, echoed the same way. Requests authenticated by a bearer key need no
token: a browser never sends that header on its own.
"""

from __future__ import annotations

import hmac
import secrets

CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
CSRF_COOKIE = "switchyard_csrf"


def new_csrf_token() -> str:
    """A fresh token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, presented: str | None) -> bool:
    """True only when both are present and equal (constant time)."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
