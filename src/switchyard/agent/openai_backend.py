"""A backend that streams from any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...).

It POSTs the request body as it came (its model mapped to the upstream's name, no
`max_tokens` added) to `<upstream>/chat/completions` with `stream: true` and
`stream_options: {include_usage: true}`, reads the server-sent events, and relays each
chunk's choices as deltas (`upstream_stream.UpstreamStream`); the final usage and choice
0's finish reason become the `Finish`. An upstream 4xx (context too long, bad schema, bad
image...) is its refusal of the request: `BackendError(status=...)`, not retryable, so the
consumer gets that status and message. 401, 403, 404, 408 and 429 are the provider's
problem (its key, its model list, its load): retryable, like 5xx and network failures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from switchyard.protocol.limits import MAX_MESSAGE_CHARS
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import (
    BackendError,
    Deltas,
    Event,
    ModelInfo,
    request_stops,
    rough_prompt_tokens,
)
from .upstream_probe import describe_models
from .upstream_stream import UpstreamStream

#: Upstream 4xx statuses that say nothing about the request (the provider's key, model
#: list or load): another provider may well serve it.
NOT_THE_REQUESTS_FAULT = frozenset({401, 403, 404, 408, 429})

log = logging.getLogger(__name__)


class OpenAIBackend:
    """Streams chat completions from an OpenAI-compatible HTTP server at `upstream`."""

    def __init__(
        self,
        upstream: str,
        *,
        api_key: str | None = None,
        model_map: Mapping[str, str] | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        self.base_url = upstream.rstrip("/")
        self.model_map = dict(model_map or {})
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, headers=self._headers)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def list_models(self) -> list[ModelInfo]:
        """Models from `<upstream>/models`, described further by the server's own endpoints
        where it has them (`upstream_probe.py`); BackendError if the list cannot be had."""
        try:
            resp = await self.client.get(f"{self.base_url}/models")
            resp.raise_for_status()
            data = resp.json().get("data", [])
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise BackendError(
                StreamErrorCode.UPSTREAM_UNREACHABLE,
                f"cannot list models at {self.base_url}: {exc}",
                retryable=True,
            ) from exc
        entries = data if isinstance(data, list) else []
        return await describe_models(self.client, self.base_url, entries)

    def _body(self, model: str, request: dict[str, Any]) -> dict[str, Any]:
        """The request as the upstream gets it: the model mapped, a stream with usage."""
        body = dict(request)
        body["model"] = self.model_map.get(model, model)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        return body

    async def generate(self, model: str, request: dict[str, Any]) -> AsyncGenerator[Event, None]:
        url = f"{self.base_url}/chat/completions"
        n = request.get("n")
        stream = UpstreamStream(request_stops(request), n if isinstance(n, int) else 1)
        try:
            async with self.client.stream("POST", url, json=self._body(model, request)) as resp:
                if resp.status_code >= 400:
                    raise _status_error(resp.status_code, (await resp.aread())[:4096])
                async for line in resp.aiter_lines():
                    obj = _sse_data(line)
                    if obj is None:
                        continue
                    if isinstance(obj, str):  # "[DONE]", the only string payload
                        break
                    if "error" in obj:
                        raise _stream_error(obj, started=stream.relayed > 0)
                    deltas = stream.chunk(obj)
                    if deltas:
                        yield Deltas(deltas)
        except httpx.TimeoutException as exc:
            raise BackendError(
                StreamErrorCode.UPSTREAM_TIMEOUT, f"upstream timed out: {exc!r}", retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendError(
                StreamErrorCode.UPSTREAM_UNREACHABLE, f"upstream failed: {exc!r}", retryable=True
            ) from exc
        yield stream.finish(rough_prompt_tokens(request))


def _sse_data(line: str) -> dict[str, Any] | str | None:
    """The JSON payload of an SSE `data:` line, "[DONE]", or None for other lines."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return payload
    if not payload:
        return None
    try:
        obj = json.loads(payload)
    except ValueError as exc:
        raise BackendError(
            StreamErrorCode.UPSTREAM_BAD_RESPONSE,
            "upstream sent invalid JSON in its stream",
            retryable=True,
        ) from exc
    if not isinstance(obj, dict):
        raise BackendError(
            StreamErrorCode.UPSTREAM_BAD_RESPONSE,
            "upstream stream event is not an object",
            retryable=True,
        )
    return obj


def _error_text(obj: Any) -> str:
    """The message of an upstream error body: OpenAI's `{"error": {"message"}}`, vLLM's
    `{"message"}`, or `{"error": "..."}`."""
    if not isinstance(obj, dict):
        return str(obj)[:MAX_MESSAGE_CHARS]
    err = obj.get("error")
    message = err.get("message") if isinstance(err, dict) else err
    if message is None:
        message = obj.get("message", obj)
    return str(message)[:MAX_MESSAGE_CHARS]


def _status_error(status: int, body: bytes) -> BackendError:
    """An upstream HTTP error: its own refusal of the request (a 4xx the consumer made,
    `status` set, not retryable), or a failure another provider may not have."""
    text = body.decode("utf-8", "replace")
    log.warning("upstream answered HTTP %d: %s", status, text[:1000])
    try:
        message = _error_text(json.loads(text))
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


def _stream_error(obj: dict[str, Any], *, started: bool) -> BackendError:
    """An error event in the upstream's stream. Before any output, one carrying a 4xx code
    (vLLM validates some requests only once streaming) is the upstream's refusal."""
    err = obj.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    message = _error_text(obj)
    if not started and type(code) is int and 400 <= code < 500:
        if code not in NOT_THE_REQUESTS_FAULT:
            return BackendError(
                StreamErrorCode.UPSTREAM_REJECTED, message, retryable=False, status=code
            )
    return BackendError(StreamErrorCode.UPSTREAM_ERROR, message, retryable=False)
