"""The `Backend` interface the agent serves requests through, and its event types.

A backend turns one normalized chat request into an async iterator of events: zero or more
`Token`s (each about one token of text) and then exactly one `Finish`. Failures are raised
as `BackendError`, carrying the wire error code and whether another provider may retry.
Cancellation is trio's: the agent cancels the scope it iterates in and closes the iterator.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from switchyard.protocol.frames import ChatRequestBody
from switchyard.protocol.vocabulary import Capability, Support

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class Token:
    """A piece of generated text (about one token)."""

    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a generation, with its usage."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    stop_sequence: str | None = None  # which of the request's stop sequences ended it


Event = Token | Finish


class BackendError(Exception):
    """A request failed in the backend; `code` and `retryable` go into the error frame."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model a backend can serve, as advertised in `register` (capabilities left out
    are unknown)."""

    id: str
    context_length: int | None = None
    prefill_tps: float | None = None
    decode_tps: float | None = None
    capabilities: dict[Capability, Support] = field(default_factory=dict)


class Backend(Protocol):
    """Something that generates tokens: a simulator or an upstream inference server."""

    async def list_models(self) -> list[ModelInfo]:
        """Models this backend can serve when none are configured explicitly."""

    def generate(self, model: str, request: ChatRequestBody) -> AsyncGenerator[Event, None]:
        """Stream events for one request: Tokens, then one Finish; raises BackendError."""

    async def aclose(self) -> None:
        """Release resources (HTTP clients and the like)."""


def rough_prompt_tokens(request: ChatRequestBody) -> int:
    """A rough prompt size: words across all messages plus a few per message of framing."""
    return sum(len(m.content.split()) + 3 for m in request.messages)
