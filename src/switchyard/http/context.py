"""Request-scoped access to the coordinator, bearer credentials and the caller's API key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import current_app, request
from werkzeug.datastructures import Headers

from ..protocol.errors import authentication_failed
from ..storage.models import ApiKeyRecord

if TYPE_CHECKING:
    from ..coordinator import Coordinator


def coordinator() -> Coordinator:
    """The coordinator this app serves (set by `create_app`)."""
    return current_app.config["SWITCHYARD_COORDINATOR"]


def bearer_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (Anthropic's `x-api-key` too)."""
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


async def authenticate() -> ApiKeyRecord:
    """The API key of the current request (ApiError 401 when missing, unknown or revoked)."""
    token = bearer_token(request.headers)
    if token is None:
        raise authentication_failed("Missing API key (Authorization: Bearer sk-sy-...).")
    record = await coordinator().keys.lookup(token)
    if record is None:
        raise authentication_failed()
    return record
