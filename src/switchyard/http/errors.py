"""Error rendering: every failure becomes a typed JSON body, never a stack trace.

Routes raise `ApiError` (or a `StoreError`, mapped here); `/v1/messages` errors (and
`/v1/models` ones asked with an `anthropic-version` header) use the Anthropic shape,
everything else the OpenAI shape. The handlers also run for the provider
WebSocket (no request context there): an error before the upgrade is answered as HTTP, one
after it is logged and the socket closed.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response, has_request_context, has_websocket_context, jsonify, request
from quart import websocket as current_websocket
from werkzeug.exceptions import HTTPException

from ..protocol.errors import (
    ApiError,
    conflict,
    http_error,
    insufficient_credit,
    internal_error,
    invalid_request,
    not_found,
    service_unavailable,
)
from ..protocol.vocabulary import ApiErrorCode
from ..storage.errors import Conflict, InsufficientFunds, InvalidInput, NotFound, StoreError

log = logging.getLogger(__name__)


def store_error_to_api_error(exc: StoreError) -> ApiError:
    """The HTTP meaning of a storage refusal."""
    if isinstance(exc, NotFound):
        return not_found(str(exc))
    if isinstance(exc, InsufficientFunds):
        return insufficient_credit(str(exc))
    if isinstance(exc, InvalidInput):
        return invalid_request(str(exc), code=ApiErrorCode.INVALID_VALUE)
    if isinstance(exc, Conflict):
        return conflict(str(exc))
    return service_unavailable(
        "storage is unavailable", ApiErrorCode.STORE_UNAVAILABLE, retry_after=1
    )


def current_target() -> tuple[str, str]:
    """(method, path) of the request or WebSocket being handled (the provider socket too)."""
    if has_request_context():
        return request.method, request.path
    if has_websocket_context():
        return "WEBSOCKET", current_websocket.path
    return "-", "-"


def error_body(exc: ApiError, path: str) -> dict[str, Any]:
    """`exc` in the shape the clients of `path` expect (Anthropic on /v1/messages, and on
    /v1/models when the request carries an `anthropic-version` header)."""
    return exc.anthropic_body() if _anthropic_client(path) else exc.openai_body()


def _anthropic_client(path: str) -> bool:
    if path.startswith("/v1/messages"):
        return True
    return (
        path.startswith("/v1/models")
        and has_request_context()
        and "anthropic-version" in request.headers
    )


def error_response(exc: ApiError) -> Response:
    """Render `exc` in the shape the current route's clients expect."""
    response = jsonify(error_body(exc, current_target()[1]))
    response.status_code = exc.status
    response.headers.update(exc.headers())
    return response


def install_error_handlers(app: Quart) -> None:
    """Map ApiError, StoreError, HTTP errors and anything unexpected to JSON bodies."""

    @app.errorhandler(ApiError)
    async def _api_error(exc: ApiError) -> Response:
        return error_response(exc)

    @app.errorhandler(StoreError)
    async def _store_error(exc: StoreError) -> Response:
        return error_response(store_error_to_api_error(exc))

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            message = f"The request body is larger than the {limit} byte limit."
        else:
            message = exc.description or exc.name
        return error_response(http_error(status, message))

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", *current_target())
        return error_response(internal_error())
