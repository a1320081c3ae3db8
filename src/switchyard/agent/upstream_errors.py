"""An upstream's HTTP errors as `BackendError`s: its refusal of the request, or its failure.

An upstream 4xx (context too long, bad schema, bad image...) is its refusal of the
request: `BackendError(status=...)`, not retryable, so the consumer gets that status and
message. 401, 403, 404, 408 and 429 are the provider's problem (its key, its model list,
its load): retryable, like 5xx and network failures. Shared by every upstream route
(`openai_backend.py`, `upstream_calls.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from switchyard.protocol.limits import MAX_MESSAGE_CHARS
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import BackendError

#: Upstream 4xx statuses that say nothing about the request (the provider's key, model
#: list or load): another provider may well serve it.
NOT_THE_REQUESTS_FAULT = frozenset({401, 403, 404, 408, 429})

log = logging.getLogger(__name__)


def error_text(obj: Any) -> str:
    """The message of an upstream error body: OpenAI's `{"error": {"message"}}`, vLLM's
    `{"message"}`, or `{"error": "..."}`."""
    if not isinstance(obj, dict):
        return str(obj)[:MAX_MESSAGE_CHARS]
    err = obj.get("error")
    message = err.get("message") if isinstance(err, dict) else err
    if message is None:
        message = obj.get("message", obj)
    return str(message)[:MAX_MESSAGE_CHARS]


def status_error(status: int, body: bytes) -> BackendError:
    """An upstream HTTP error: its own refusal of the request (a 4xx the consumer made,
    `status` set, not retryable), or a failure another provider may not have."""
    text = body.decode("utf-8", "replace")
    log.warning("upstream answered HTTP %d: %s", status, text[:1000])
    try:
        message = error_text(json.loads(text))
    except ValueError:
        message = text[:MAX_MESSAGE_CHARS] or f"HTTP {status}"
    if 400 <= status < 500 and status not in NOT_THE_REQUESTS_FAULT:
        return BackendError(
            StreamErrorCode.UPSTREAM_REJECTED, message, retryable=False, status=status
        )
    code = StreamErrorCode.UPSTREAM_UNAVAILABLE
    return BackendError(
        code, f"upstream HTTP {status}: {message}"[:MAX_MESSAGE_CHARS], retryable=True
    )


def stream_error(obj: dict[str, Any], *, started: bool) -> BackendError:
    """An error event in the upstream's stream. Before any output, one carrying a 4xx code
    (vLLM validates some requests only once streaming) is the upstream's refusal."""
    err = obj.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    message = error_text(obj)
    if not started and type(code) is int and 400 <= code < 500:
        if code not in NOT_THE_REQUESTS_FAULT:
            return BackendError(
                StreamErrorCode.UPSTREAM_REJECTED, message, retryable=False, status=code
            )
    return BackendError(StreamErrorCode.UPSTREAM_ERROR, message, retryable=False)


@contextmanager
def transport_failures() -> Iterator[None]:
    """An httpx timeout or transport failure inside as a retryable `BackendError`
    (`upstream_timeout` / `upstream_unreachable`): the provider's problem, not the request's."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise BackendError(
            StreamErrorCode.UPSTREAM_TIMEOUT, f"upstream timed out: {exc!r}", retryable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise BackendError(
            StreamErrorCode.UPSTREAM_UNREACHABLE, f"upstream failed: {exc!r}", retryable=True
        ) from exc
