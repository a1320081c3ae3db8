"""The `Backend` interface the agent serves requests through, and its event types.

A backend turns one `inference_request` body (an OpenAI-shaped body, as a dict, of the
frame's `kind`: chat completions, text completions, embeddings, or a chat body to count
the prompt tokens of) into an async iterator of events: zero or more `Deltas` (the fields
of OpenAI chunk choices, see `protocol.provider_frames.Delta`: content, reasoning, tool
calls, logprobs, per-choice index and finish) and then exactly one `Finish`. Failures are
raised as `BackendError`, carrying the wire error code, whether another provider may
retry, and the upstream's HTTP status when the upstream refused the request itself (a 4xx
the consumer sees as it is). A text completion's text travels as `content` deltas (its
logprobs as `text_logprobs`), embeddings as `embedding` deltas (`embedding_delta`), and a
token count as the `Finish`'s `prompt_tokens` alone. Cancellation is trio's: the agent
cancels the scope it iterates in and closes the iterator.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from switchyard.protocol.vocabulary import Capability, RequestKind, Support

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class Deltas:
    """Output deltas (one or more per upstream chunk), in order."""

    items: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a generation, with its usage (choice 0's finish reason)."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    stop_sequence: str | None = None  # which of the request's stop sequences ended it
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None


Event = Deltas | Finish


class BackendError(Exception):
    """A request failed in the backend; `code`, `retryable` and `status` go into the error
    frame (`status`: the upstream's 4xx when it refused the request itself)."""

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

    def generate(
        self, model: str, request: dict[str, Any], kind: RequestKind = RequestKind.CHAT
    ) -> AsyncGenerator[Event, None]:
        """Stream events for one request (`model` is the public id the request names) of
        `kind`: Deltas, then one Finish; raises BackendError."""

    async def aclose(self) -> None:
        """Release resources (HTTP clients and the like)."""


def _words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(_words(p.get("text")) for p in content if isinstance(p, Mapping))
    return 0


def rough_prompt_tokens(request: Mapping[str, Any]) -> int:
    """A rough prompt size: words across all messages plus a few per message of framing."""
    messages = request.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(_words(m.get("content")) + 3 for m in messages if isinstance(m, Mapping))


def embedding_delta(index: int, values: list[float]) -> dict[str, Any]:
    """The wire delta of input `index`'s embedding: float32 little-endian, base64."""
    packed = struct.pack(f"<{len(values)}f", *values)
    return {"embedding": {"index": index, "b64": base64.b64encode(packed).decode("ascii")}}


def request_stops(request: Mapping[str, Any]) -> list[str]:
    """The request's stop sequences (`stop` may be a string or a list)."""
    stop = request.get("stop")
    if isinstance(stop, str):
        return [stop]
    return [s for s in stop if isinstance(s, str)] if isinstance(stop, list) else []
