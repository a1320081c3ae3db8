"""Job: one validated consumer request, ready to run: the wire body, limits, deadlines.

`new_job` builds it from the chat-completions body the HTTP layer built for the wire
(`openai_api.wire_chat_request` and friends): it serializes the body once (every
attempt's `inference_request` frame reuses those bytes), refuses a body that could not
fit a frame (413), estimates the prompt's tokens (what is held and rate-limited before
the provider reports the real count) and sets the deadlines. What the request needs of
its model (`needs`, from `capabilities.required_capabilities`) comes from the route;
without a requested `max_tokens`, how many output tokens a choice is held for
(`max_tokens`) is decided against the model's context length by
`context_length.fit_to_model` before anything is held.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from ..protocol.chat import normalize_stop
from ..protocol.errors import request_frame_too_large
from ..protocol.frames import dump_request_body
from ..protocol.limits import MAX_COORDINATOR_FRAME_BYTES, MAX_REQUEST_BODY_JSON_BYTES
from ..protocol.vocabulary import Capability, RequestKind, Trust
from ..settings import Settings

#: What one image part is assumed to cost in prompt tokens before the provider reports
#: the real count (vision models spend from about 85 to a few thousand; the hold is
#: settled on the report).
IMAGE_PROMPT_TOKENS = 1024


@dataclass(frozen=True)
class Job:
    """What to run: the wire request plus routing and timing constraints."""

    model: str
    body_json: str  # the wire body (`frames.dump_request_body`), sent by every attempt
    max_tokens: int  # the most one choice may generate (what money is held for)
    prompt_tokens: int
    deadline: float  # trio clock
    reserve_deadline: float  # trio clock; waiting for a slot gives up here
    min_trust: Trust = Trust.SELF_SIGNED
    max_attempts: int = 3
    stream_buffer: int = 256
    n: int = 1  # choices
    stop: tuple[str, ...] = ()  # stop sequences, enforced by the coordinator too
    requested_max_tokens: int | None = None  # the consumer's (None: the model's limit)
    max_tokens_cap: int = 32_768  # the most held without max_tokens (the operator's cap)
    needs: frozenset[Capability] = frozenset()  # capabilities the request needs of its model
    kind: RequestKind = RequestKind.CHAT  # the API of the wire body (the upstream route)

    @property
    def max_output_tokens(self) -> int:
        """The most the whole answer may generate: every choice at `max_tokens`."""
        return self.max_tokens * self.n

    @property
    def min_context(self) -> int:
        """The context length a provider needs to serve it (0: any)."""
        return self.requested_max_tokens or 0


def _text_tokens(text: Any) -> int:
    return len(text) // 4 if isinstance(text, str) else 0


def _content_tokens(content: Any) -> int:
    if not isinstance(content, list):
        return _text_tokens(content)
    total = 0
    for part in content:
        if isinstance(part, Mapping):
            if part.get("type") == "image_url":
                total += IMAGE_PROMPT_TOKENS
            else:
                total += _text_tokens(part.get("text")) + _text_tokens(part.get("refusal"))
    return total


def estimate_prompt_tokens(request: Mapping[str, Any]) -> int:
    """A cheap upper-leaning estimate: ≈4 characters a token for text, tool calls and tool
    definitions, `IMAGE_PROMPT_TOKENS` an image, plus per-message overhead."""
    total = 2
    for message in request.get("messages") or ():
        total += _content_tokens(message.get("content")) + 4
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            total += _text_tokens(function.get("arguments")) + _text_tokens(function.get("name"))
    tools = request.get("tools")
    if tools:
        total += len(json.dumps(tools)) // 4
    return total


def new_job(
    model: str,
    request: Mapping[str, Any],
    settings: Settings,
    min_trust: Trust,
    max_tokens: int | None = None,
    needs: frozenset[Capability] = frozenset(),
    *,
    kind: RequestKind = RequestKind.CHAT,
    prompt_tokens: int | None = None,
    n: int | None = None,
) -> Job:
    """The job for the wire body `request` (see the module docstring); ApiError 413 if it
    cannot be sent. `max_tokens` (per choice) defaults to the body's own; without either,
    `SWITCHYARD_DEFAULT_MAX_TOKENS_CAP` is held until `fit_to_model` decides (0: the
    request generates nothing, as an embedding). `prompt_tokens` and `n` (choices)
    default to the chat body's estimate and `n`."""
    wire = dump_request_body(dict(request))  # serialized once; every attempt reuses it
    if len(wire) > MAX_REQUEST_BODY_JSON_BYTES:
        raise request_frame_too_large(MAX_COORDINATOR_FRAME_BYTES)
    now = trio.current_time()
    requested = max_tokens if max_tokens is not None else request.get("max_tokens")
    return Job(
        model=model,
        body_json=wire.decode(),
        max_tokens=settings.default_max_tokens_cap if requested is None else requested,
        prompt_tokens=estimate_prompt_tokens(request) if prompt_tokens is None else prompt_tokens,
        deadline=now + settings.request_timeout_s,
        reserve_deadline=now + settings.reserve_timeout_s,
        min_trust=min_trust,
        max_attempts=settings.max_attempts,
        stream_buffer=settings.provider.stream_buffer,
        n=n or request.get("n") or 1,
        stop=tuple(normalize_stop(request.get("stop")) or ()),
        requested_max_tokens=requested,
        max_tokens_cap=settings.default_max_tokens_cap,
        needs=needs,
        kind=kind,
    )
