"""One request's generation: backend events → stream deltas → one terminal frame.

The backend's deltas are handed to `send` in order (packing them into frames, across
requests, is the session outbox's job); the first ones of a request go out at once. A
delta whose strings are longer than `MAX_DELTA_CHARS` characters is split into several
(content, reasoning, refusal and tool-call argument pieces concatenate on the other side),
which keeps every frame under the 1 MiB limit even if every character needs a 6-byte
JSON escape; a delta that cannot be made to fit (huge logprobs) fails its request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

from switchyard.protocol.chunk_codec import MAX_ADD_BYTES, encode_deltas
from switchyard.protocol.frames import (
    CompleteFrame,
    ErrorFrame,
    InferenceRequestFrame,
    Usage,
)
from switchyard.protocol.limits import (
    MAX_DELTA_CHARS,
    MAX_ERROR_CODE_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_USAGE_TOKENS,
)
from switchyard.protocol.provider_frames import CompletionDetails, PromptDetails
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import Backend, BackendError, Finish

log = logging.getLogger(__name__)

#: `send(deltas, first)`: `first` marks the request's first deltas (sent without delay).
SendDeltas = Callable[[list[dict[str, Any]], bool], Awaitable[None]]
_TEXT_FIELDS = ("content", "reasoning_content", "refusal")


async def stream_request(
    backend: Backend, frame: InferenceRequestFrame, send: SendDeltas
) -> CompleteFrame | ErrorFrame:
    """Run one request; deltas go through `send`; the terminal frame is returned, not sent."""
    request_id = frame.request_id
    first = True
    try:
        async with aclosing(backend.generate(frame.model, frame.request, frame.kind)) as events:
            async for event in events:
                if isinstance(event, Finish):
                    return terminal_frame(request_id, event)
                for deltas in fit_deltas(event.items):
                    await send(deltas, first)
                    first = False
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


def fit_deltas(deltas: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """`deltas` in groups that each fit a frame, every long delta split (see the module
    docstring); usually one group, the deltas as they are."""
    groups: list[list[dict[str, Any]]] = []
    group: list[dict[str, Any]] = []
    size = 0
    for delta in deltas:
        if len(delta) == 1:
            text = delta.get("content")
            if type(text) is str and len(text) <= MAX_DELTA_CHARS:  # the per-token case
                pieces = [(delta, 6 * len(text) + 16)]  # at most 6 bytes a character
            else:
                pieces = _split(delta)
        else:
            pieces = _split(delta)
        for piece, piece_size in pieces:
            if group and size + piece_size + 1 > MAX_ADD_BYTES:
                groups.append(group)
                group, size = [], 0
            group.append(piece)
            size += piece_size + 1
    if group:
        groups.append(group)
    return groups


def _pieces(text: str) -> list[str]:
    return [text[i : i + MAX_DELTA_CHARS] for i in range(0, len(text), MAX_DELTA_CHARS)]


def _split(delta: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """A delta as one or more that each fit a frame (with their encoded sizes): long
    strings travel in pieces first."""
    head = {"index": delta["index"]} if "index" in delta else {}
    out: list[dict[str, Any]] = []
    rest = dict(delta)
    for key in _TEXT_FIELDS:
        text = rest.get(key)
        if isinstance(text, str) and len(text) > MAX_DELTA_CHARS:
            *pieces, rest[key] = _pieces(text)
            out += [{**head, key: piece} for piece in pieces]
    calls = rest.get("tool_calls")
    if calls:
        kept = []
        for call in calls:
            args = (call.get("function") or {}).get("arguments")
            if isinstance(args, str) and len(args) > MAX_DELTA_CHARS:
                *pieces, last = _pieces(args)
                start = {**call, "function": {**call["function"], "arguments": pieces[0]}}
                out.append({**head, "tool_calls": [start]})
                for piece in pieces[1:]:
                    more = {"index": call.get("index", 0), "function": {"arguments": piece}}
                    out.append({**head, "tool_calls": [more]})
                call = {"index": call.get("index", 0), "function": {"arguments": last}}
            kept.append(call)
        rest["tool_calls"] = kept
    out.append(rest)
    sized = [(piece, len(encode_deltas([piece]))) for piece in out]
    if any(size > MAX_ADD_BYTES for _, size in sized):
        raise BackendError(
            StreamErrorCode.UPSTREAM_BAD_RESPONSE,
            "a delta too large for one frame",
            retryable=False,
        )
    return sized


def terminal_frame(request_id: str, outcome: Finish | BackendError) -> CompleteFrame | ErrorFrame:
    """The `complete` or `error` frame that ends a request."""
    if isinstance(outcome, Finish):
        usage = Usage(
            prompt_tokens=_bounded(outcome.prompt_tokens),
            completion_tokens=_bounded(outcome.completion_tokens),
            completion_tokens_details=(
                None
                if outcome.reasoning_tokens is None
                else CompletionDetails(reasoning_tokens=_bounded(outcome.reasoning_tokens))
            ),
            prompt_tokens_details=(
                None
                if outcome.cached_tokens is None
                else PromptDetails(cached_tokens=_bounded(outcome.cached_tokens))
            ),
        )
        return CompleteFrame(
            request_id=request_id,
            usage=usage,
            finish_reason=outcome.finish_reason,
            stop_sequence=outcome.stop_sequence,
        )
    status = outcome.status if outcome.status is not None and 400 <= outcome.status < 500 else None
    return ErrorFrame(
        request_id=request_id,
        code=(outcome.code or StreamErrorCode.BACKEND_ERROR)[:MAX_ERROR_CODE_CHARS],
        message=outcome.message[:MAX_MESSAGE_CHARS],
        retryable=outcome.retryable and status is None,
        status=status,
    )


def _bounded(count: int) -> int:
    return min(max(count, 0), MAX_USAGE_TOKENS)
