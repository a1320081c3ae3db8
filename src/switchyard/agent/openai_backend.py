"""A backend that streams from any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...).

Each request kind goes to the upstream's route for it, its model mapped to the upstream's
name and nothing else changed (no `max_tokens` added):

- chat → `<upstream>/chat/completions`, text completions → `<upstream>/completions`, both
  with `stream: true` and `stream_options: {include_usage: true}`: the server-sent events'
  choices are relayed as deltas (`upstream_stream.UpstreamStream`), the final usage and
  choice 0's finish reason become the `Finish`;
- embeddings → `<upstream>/embeddings` and tokenize → the server's `/tokenize`, one JSON
  answer each (`upstream_calls.py`).

Upstream HTTP errors are classified by `upstream_errors.py` (a 4xx is the upstream's
refusal of the request, passed to the consumer; the rest retryable).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from switchyard.protocol.vocabulary import RequestKind, StreamErrorCode

from .backend import (
    BackendError,
    Deltas,
    Event,
    Finish,
    ModelInfo,
    request_stops,
    rough_prompt_tokens,
)
from .upstream_calls import count_prompt, embed
from .upstream_errors import status_error, stream_error, transport_failures
from .upstream_probe import describe_models, server_root
from .upstream_stream import UpstreamStream


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

    async def generate(
        self, model: str, request: dict[str, Any], kind: RequestKind = RequestKind.CHAT
    ) -> AsyncGenerator[Event, None]:
        if kind is RequestKind.EMBEDDING:
            body = dict(request, model=self.model_map.get(model, model))
            deltas, prompt = await embed(self.client, f"{self.base_url}/embeddings", body)
            if deltas:
                yield Deltas(deltas)
            yield Finish(prompt if prompt is not None else 0, 0, "stop")
            return
        if kind is RequestKind.TOKENIZE:
            upstream_model = self.model_map.get(model, model)
            count = await count_prompt(
                self.client, server_root(self.base_url), upstream_model, request
            )
            yield Finish(count, 0, "stop")
            return
        text = kind is RequestKind.COMPLETION
        url = f"{self.base_url}/completions" if text else f"{self.base_url}/chat/completions"
        n = request.get("n")
        choices = n if isinstance(n, int) else 1
        if text:
            choices *= _prompt_count(request.get("prompt"))
        stream = UpstreamStream(request_stops(request), choices, text=text)
        with transport_failures():
            async with self.client.stream("POST", url, json=self._body(model, request)) as resp:
                if resp.status_code >= 400:
                    raise status_error(resp.status_code, (await resp.aread())[:4096])
                async for line in resp.aiter_lines():
                    obj = _sse_data(line)
                    if obj is None:
                        continue
                    if isinstance(obj, str):  # "[DONE]", the only string payload
                        break
                    if "error" in obj:
                        raise stream_error(obj, started=stream.relayed > 0)
                    deltas = stream.chunk(obj)
                    if deltas:
                        yield Deltas(deltas)
        yield stream.finish(rough_prompt_tokens(request))


def _prompt_count(prompt: Any) -> int:
    """How many prompts a completions `prompt` holds (each gets `n` choices)."""
    if isinstance(prompt, list) and prompt and not all(isinstance(p, int) for p in prompt):
        return len(prompt)
    return 1


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
