"""One request's generation: backend events → stream deltas → one terminal frame.

Each token becomes one `{"content": ...}` delta (the first one preceded by the role
delta, see `chunk_codec.stream_deltas`) handed to `send`; packing deltas into frames,
across requests, is the session outbox's job. A token longer than `MAX_DELTA_CHARS`
characters is split, which keeps every frame under the 1 MiB limit even if every
character needs a 6-byte JSON escape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing

from switchyard.protocol.chunk_codec import stream_deltas
from switchyard.protocol.frames import CompleteFrame, ErrorFrame, InferenceRequestFrame, Usage
from switchyard.protocol.limits import (
    MAX_DELTA_CHARS,
    MAX_ERROR_CODE_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_USAGE_TOKENS,
)
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import Backend, BackendError, Deltas, Finish

log = logging.getLogger(__name__)

#: `send(deltas, first)`: `first` marks the request's first deltas (sent without delay).
SendDeltas = Callable[[list[dict[str, str]], bool], Awaitable[None]]


async def stream_request(
    backend: Backend, frame: InferenceRequestFrame, send: SendDeltas
) -> CompleteFrame | ErrorFrame:
    """Run one request; deltas go through `send`; the terminal frame is returned, not sent."""
    request_id = frame.request_id
    first = True
    try:
        body = frame.request.model_dump(exclude_none=True)
        async with aclosing(backend.generate(frame.model, body)) as events:
            async for event in events:
                if isinstance(event, Finish):
                    return terminal_frame(request_id, event)
                if isinstance(event, Deltas):  # already wire deltas, role first
                    await send(event.items, first)
                    first = False
                    continue
                text = event.text
                while text:
                    await send(stream_deltas(text[:MAX_DELTA_CHARS], first), first)
                    first = False
                    text = text[MAX_DELTA_CHARS:]
        ended = BackendError(
            StreamErrorCode.BACKEND_ERROR, "backend stream ended early", retryable=True
        )
        return terminal_frame(request_id, ended)
    except BackendError as exc:
        return terminal_frame(request_id, exc)
    except Exception as exc:
        log.exception("backend crashed on request %s", request_id)
        crashed = BackendError(
            StreamErrorCode.INTERNAL_ERROR, f"backend crashed: {exc!r}", retryable=True
        )
        return terminal_frame(request_id, crashed)


def terminal_frame(request_id: str, outcome: Finish | BackendError) -> CompleteFrame | ErrorFrame:
    """The `complete` or `error` frame that ends a request."""
    if isinstance(outcome, Finish):
        usage = Usage(
            prompt_tokens=min(max(outcome.prompt_tokens, 0), MAX_USAGE_TOKENS),
            completion_tokens=min(max(outcome.completion_tokens, 0), MAX_USAGE_TOKENS),
        )
        return CompleteFrame(
            request_id=request_id,
            usage=usage,
            finish_reason=outcome.finish_reason,
            stop_sequence=outcome.stop_sequence,
        )
    return ErrorFrame(
        request_id=request_id,
        code=(outcome.code or StreamErrorCode.BACKEND_ERROR)[:MAX_ERROR_CODE_CHARS],
        message=outcome.message[:MAX_MESSAGE_CHARS],
        retryable=outcome.retryable,
    )
