"""The admin-key check shared by every admin blueprint (one place, constant time).

The key comes from `Authorization: Bearer <admin key>`. Only the HTML inspection page
(`GET /admin`) may take it from a `?key=` query parameter instead, because a browser
cannot send a header when it navigates; every JSON route refuses a query-string key.
With no admin key configured, everything is refused.
"""

from __future__ import annotations

import hashlib
import hmac

from quart import request

from ..protocol.errors import authentication_failed
from ..protocol.vocabulary import ApiErrorCode
from .context import bearer_token, coordinator

QUERY_KEY_PARAM = "key"


def secret_matches(presented: str | None, expected: str | None) -> bool:
    """Constant-time comparison; hashing first hides the secret's length as well."""
    if not expected or not presented:
        return False
    presented_digest = hashlib.sha256(presented.encode()).digest()
    expected_digest = hashlib.sha256(expected.encode()).digest()
    return hmac.compare_digest(presented_digest, expected_digest)


def require_admin_key(*, allow_query: bool = False) -> None:
    """Raise a 401 `ApiError` unless the current request carries the admin key."""
    presented = bearer_token(request.headers)
    if presented is None and allow_query:
        presented = request.args.get(QUERY_KEY_PARAM) or None
    if not secret_matches(presented, coordinator().settings.admin_key):
        raise authentication_failed("Missing or invalid admin key.", ApiErrorCode.INVALID_ADMIN_KEY)
