"""A backend that streams from any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...).

It POSTs `<upstream>/chat/completions` with `stream: true` and
`stream_options: {include_usage: true}`, reads the server-sent events, and maps content
deltas to `Token`s and the final finish reason and usage to a `Finish`. Servers that send
no usage get a fallback: completion tokens = number of content deltas, prompt tokens = a
rough word count. HTTP 429/5xx and network failures are retryable errors; other 4xx are not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from switchyard.protocol.frames import ChatRequestBody
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import (
    BackendError,
    Event,
    Finish,
    FinishReason,
    ModelInfo,
    Token,
    rough_prompt_tokens,
)
from .upstream_probe import describe_models

log = logging.getLogger(__name__)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


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

    def _body(self, model: str, request: ChatRequestBody) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_map.get(model, model),
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for name in ("max_tokens", "temperature", "top_p", "stop", "seed"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        return body

    async def generate(self, model: str, request: ChatRequestBody) -> AsyncGenerator[Event, None]:
        url = f"{self.base_url}/chat/completions"
        finish: FinishReason = "stop"
        stop_sequence: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        pieces = 0
        try:
            async with self.client.stream("POST", url, json=self._body(model, request)) as resp:
                if resp.status_code >= 400:
                    raise _status_error(resp.status_code, (await resp.aread())[:500])
                async for line in resp.aiter_lines():
                    obj = _sse_data(line)
                    if obj is None:
                        continue
                    if obj == "[DONE]":
                        break
                    if "error" in obj:
                        raise BackendError(
                            StreamErrorCode.UPSTREAM_ERROR, _error_text(obj), retryable=False
                        )
                    for choice in obj.get("choices") or []:
                        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                            continue
                        delta = choice.get("delta")
                        content = delta.get("content") if isinstance(delta, dict) else None
                        if isinstance(content, str) and content:
                            pieces += 1
                            yield Token(content)
                        reason = choice.get("finish_reason")
                        if isinstance(reason, str):
                            finish = _FINISH.get(reason, "stop")
                        matched = choice.get("stop_reason")  # vLLM names the stop string
                        if isinstance(matched, str) and matched in (request.stop or []):
                            stop_sequence = matched
                    usage = obj.get("usage")
                    if isinstance(usage, dict):
                        prompt_tokens = _count(usage.get("prompt_tokens"))
                        completion_tokens = _count(usage.get("completion_tokens"))
        except httpx.TimeoutException as exc:
            raise BackendError(
                StreamErrorCode.UPSTREAM_TIMEOUT, f"upstream timed out: {exc!r}", retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendError(
                StreamErrorCode.UPSTREAM_UNREACHABLE, f"upstream failed: {exc!r}", retryable=True
            ) from exc
        yield Finish(
            prompt_tokens if prompt_tokens is not None else rough_prompt_tokens(request),
            completion_tokens if completion_tokens is not None else pieces,
            finish,
            stop_sequence,
        )


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


def _error_text(obj: dict[str, Any]) -> str:
    err = obj.get("error")
    message = err.get("message") if isinstance(err, dict) else err
    return str(message)[:1000]


def _status_error(status: int, body: bytes) -> BackendError:
    text = body.decode("utf-8", "replace")
    retryable = status == 429 or status >= 500
    code = StreamErrorCode.UPSTREAM_UNAVAILABLE if retryable else StreamErrorCode.UPSTREAM_REJECTED
    log.warning("upstream answered HTTP %d: %s", status, text)
    return BackendError(code, f"upstream HTTP {status}: {text}"[:1000], retryable=retryable)
