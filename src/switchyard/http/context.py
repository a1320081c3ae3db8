"""Request-scoped access to the coordinator and to bearer credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import current_app
from werkzeug.datastructures import Headers

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
