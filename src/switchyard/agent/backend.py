"""The `Backend` interface the agent serves requests through, and its event types.

A backend turns one OpenAI chat-completions body (the `inference_request.request` dict,
model already mapped) into an async iterator of events: zero or more `Deltas` (lists of
wire delta dicts, each the fields of one OpenAI chunk choice) and then exactly one
`Finish`. Failures are raised as `BackendError`, carrying the wire error code, whether
another provider may retry, and the upstream's HTTP status for an upstream 4xx.
Cancellation is trio's: the agent cancels the scope it iterates in and closes the iterator.
`Token` is the older text-only event, still yielded by `OpenAIBackend` until it moves to
`Deltas`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from switchyard.protocol.frames import ChatRequestBody

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class Token:
    """A piece of generated text (about one token)."""

    text: str


@dataclass(frozen=True, slots=True)
class Deltas:
    """Delta dicts of one upstream chunk (e.g. `{"content": "hi"}`), in order."""

    items: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a generation, with its usage."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    stop_sequence: str | None = None  # which of the request's stop sequences ended it
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None


Event = Token | Deltas | Finish


class BackendError(Exception):
    """A request failed in the backend; `code`, `retryable` and `status` go into the error
    frame (`status`: the upstream's HTTP status for an upstream 4xx)."""

    def __init__(
        self, code: str, message: str, *, retryable: bool, status: int | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model a backend can serve, as advertised in `register`."""

    id: str
    context_length: int | None = None
    prefill_tps: float | None = None
    decode_tps: float | None = None


class Backend(Protocol):
    """Something that generates tokens: a simulator or an upstream inference server."""

    async def list_models(self) -> list[ModelInfo]:
        """Models this backend can serve when none are configured explicitly."""

    def generate(self, model: str, request: dict[str, Any]) -> AsyncGenerator[Event, None]:
        """Stream events for one chat-completions body: Deltas, then one Finish; raises
        BackendError."""

    async def aclose(self) -> None:
        """Release resources (HTTP clients and the like)."""


def rough_prompt_tokens(request: ChatRequestBody) -> int:
    """A rough prompt size: words across all messages plus a few per message of framing."""
    return sum(len(m.content.split()) + 3 for m in request.messages)
