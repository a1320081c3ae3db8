"""A provider actor's in-flight requests: the stream each feeds, and how each ends.

`complete_end` and `error_end` turn the provider's `complete` / `error` frame into the
stream's last item; `gone_end` and `expired_end` end a request early; `remember_closed`
keeps the ids of recently finished requests, whose late frames are dropped silently.

The actor owns every request's deadline: on each tick it ends the requests whose deadline
passed (`expired`), so the consumer side waits on its stream without a timer of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import trio

from ..protocol.frames import CompleteFrame, ErrorFrame
from ..protocol.vocabulary import StreamErrorCode
from .provider_messages import StreamChunk, StreamEnd

RECENTLY_CLOSED = 4096  # request ids whose late frames are dropped silently


@dataclass
class Inflight:
    """One request being served: its model, its consumer's stream, timings and token count."""

    model: str
    stream: trio.MemorySendChannel[StreamChunk | StreamEnd]
    started: float  # trio clock
    deadline: float  # trio clock
    first_token_at: float | None = None
    tokens: int = 0


def expired(inflight: dict[str, Inflight], now: float) -> list[str]:
    """The ids of requests whose deadline has passed."""
    return [request_id for request_id, entry in inflight.items() if entry.deadline <= now]


def remember_closed(closed_ids: OrderedDict[str, None], request_id: str) -> None:
    """Note a finished request id, so its late frames are dropped (the newest few only)."""
    closed_ids[request_id] = None
    if len(closed_ids) > RECENTLY_CLOSED:
        closed_ids.popitem(last=False)


def in_use_by_model(inflight: dict[str, Inflight]) -> dict[str, int]:
    """How many requests are in flight on each model."""
    counts: dict[str, int] = {}
    for entry in inflight.values():
        counts[entry.model] = counts.get(entry.model, 0) + 1
    return counts


def complete_end(msg: CompleteFrame) -> StreamEnd:
    """The end of a request the provider completed: finish reason and usage."""
    usage = msg.usage
    details, prompt_details = usage.completion_tokens_details, usage.prompt_tokens_details
    return StreamEnd(
        finish_reason=msg.finish_reason,
        stop_sequence=msg.stop_sequence,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        reasoning_tokens=details.reasoning_tokens if details else None,
        cached_tokens=prompt_details.cached_tokens if prompt_details else None,
    )


def error_end(msg: ErrorFrame, entry: Inflight) -> StreamEnd:
    """The end of a request the provider failed: retryable only before any token relayed
    and when the upstream gave no HTTP status."""
    retryable = msg.retryable and entry.tokens == 0 and msg.status is None
    return StreamEnd(
        error_code=msg.code, error_message=msg.message, retryable=retryable, status=msg.status
    )


def gone_end(entry: Inflight) -> StreamEnd:
    """The end of a request whose provider disconnected or whose actor restarted."""
    return StreamEnd(
        error_code=StreamErrorCode.PROVIDER_GONE,
        error_message="the provider disconnected or its actor restarted",
        retryable=entry.tokens == 0,
    )


def expired_end() -> StreamEnd:
    """The end of a request whose deadline passed."""
    return StreamEnd(
        error_code=StreamErrorCode.TIMEOUT, error_message="the request deadline passed"
    )
