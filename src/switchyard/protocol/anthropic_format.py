"""Anthropic Messages response bodies and the SSE stream encoder (pure, no I/O).

Stop reasons: a matched stop sequence gives `stop_sequence` (with the sequence in
`stop_sequence`); otherwise the provider's finish reason maps stop -> end_turn,
length -> max_tokens, content_filter -> refusal, tool_calls -> end_turn (tool use is not
relayed). An empty output has `content: []`, as Anthropic returns.

A stream is

    event: message_start        (usage.input_tokens as known at start, often 0)
    event: content_block_start  (index 0, empty text block)  } with the first text
    event: ping                                              }
    event: content_block_delta  (text_delta), one per token
    event: content_block_stop
    event: message_delta        (stop_reason, stop_sequence, usage input/output tokens)
    event: message_stop

or, on a failure after the first token, `event: error` and nothing more. The final
`message_delta` carries the true `input_tokens`, which the official SDK folds into the
message it accumulates. Per-token work is one C-level string quote plus a join.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from .chat import TokenUsage
from .errors import ApiError

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "end_turn",
}
_PING = 'event: ping\ndata: {"type":"ping"}\n\n'
_BLOCK_START = (
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
)
_BLOCK_STOP = 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
_DELTA_HEAD = (
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
)
_DELTA_TAIL = "}}\n\n"
_MESSAGE_STOP = 'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def _usage(usage: TokenUsage) -> dict[str, int]:
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def new_message_id() -> str:
    """A fresh `msg_...` id."""
    return "msg_" + secrets.token_hex(12)


def anthropic_stop_reason(finish_reason: str, stop_sequence: str | None = None) -> str:
    """The Anthropic `stop_reason` for a provider finish reason (see the module docstring)."""
    if stop_sequence is not None:
        return "stop_sequence"
    return _STOP_REASONS.get(finish_reason, "end_turn")


def build_message(
    *,
    id: str,
    model: str,
    text: str,
    finish_reason: str,
    usage: TokenUsage,
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    """A non-streaming `message` object."""
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": anthropic_stop_reason(finish_reason, stop_sequence),
        "stop_sequence": stop_sequence,
        "usage": _usage(usage),
    }


def error_event(err: ApiError) -> bytes:
    """`event: error` with the Anthropic error body."""
    return b"event: error\ndata: " + json.dumps(err.anthropic_body()).encode() + b"\n\n"


class MessagesStreamEncoder:
    """Encodes one Messages stream; opening events are emitted lazily with the first text."""

    __slots__ = ("_block_open", "_closed", "_started", "id", "input_tokens", "model")

    def __init__(self, model: str, *, id: str | None = None, input_tokens: int = 0) -> None:
        self.id = id or new_message_id()
        self.model = model
        self.input_tokens = input_tokens
        self._started = False
        self._block_open = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """True after `finish_events` or `error_event`; nothing more is emitted."""
        return self._closed

    def _message_start(self) -> str:
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        body = json.dumps({"type": "message_start", "message": message}, separators=(",", ":"))
        return f"event: message_start\ndata: {body}\n\n"

    def start_event(self) -> bytes:
        """`message_start` (once). Optional: `text_events`/`finish_events` send it if unsent."""
        if self._started or self._closed:
            return b""
        self._started = True
        return self._message_start().encode()

    def ping(self) -> bytes:
        """A keep-alive `ping` event (only between message_start and the end)."""
        return _PING.encode() if self._started and not self._closed else b""

    def text_events(self, texts: Iterable[str]) -> bytes:
        """One text_delta per non-empty text, concatenated, preceded by any opening events."""
        if self._closed:
            return b""
        parts: list[str] = []
        for text in texts:
            if text:
                parts += (_DELTA_HEAD, _quote(text), _DELTA_TAIL)
        if not parts:
            return b""
        if not self._block_open:
            self._block_open = True
            opening = [_BLOCK_START, _PING]
            if not self._started:
                self._started = True
                opening.insert(0, self._message_start())
            parts[:0] = opening
        return "".join(parts).encode()

    def finish_events(
        self, finish_reason: str, usage: TokenUsage, *, stop_sequence: str | None = None
    ) -> bytes:
        """content_block_stop (if a block is open), message_delta and message_stop."""
        if self._closed:
            return b""
        out = self.start_event().decode()
        if self._block_open:
            out += _BLOCK_STOP
        delta = {
            "type": "message_delta",
            "delta": {
                "stop_reason": anthropic_stop_reason(finish_reason, stop_sequence),
                "stop_sequence": stop_sequence,
            },
            "usage": {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
            },
        }
        out += f"event: message_delta\ndata: {json.dumps(delta, separators=(',', ':'))}\n\n"
        self._closed = True
        return (out + _MESSAGE_STOP).encode()

    def error_event(self, err: ApiError) -> bytes:
        """`event: error`; the stream ends there."""
        if self._closed:
            return b""
        self._closed = True
        return error_event(err)
