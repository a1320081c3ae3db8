"""A provider actor's in-flight requests: the stream each feeds, and how each may end early.

The actor owns every request's deadline: on each tick it ends the requests whose deadline
passed (`expired`), so the consumer side waits on its stream without a timer of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from ..protocol.vocabulary import StreamErrorCode
from .provider_messages import StreamChunk, StreamEnd


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
