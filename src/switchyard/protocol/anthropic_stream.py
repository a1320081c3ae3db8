"""Chat-completion deltas rendered as an Anthropic message: SSE events and the final body.

`AnthropicRenderer` takes the wire's deltas (the fields of one OpenAI chunk choice, see the
wire contract) in order and builds the message's content blocks, each opened when its
kind of output starts and closed when another begins:

- `reasoning_content` → a `thinking` block (`thinking_delta` events; closed with an empty
  `signature_delta`, as Anthropic closes one: no signature is made, and the SDK needs none);
- `content` (and `refusal`) → a `text` block (`text_delta`);
- `tool_calls` → one `tool_use` block per call index (id and name from the call's first
  fragment, an id made up if it has none; `input_json_delta` per `arguments` fragment).
  Non-streaming, `input` is the parsed arguments (an object; `{}` if they are empty or
  not a JSON object).

Only choice 0 is rendered (a Messages request never asks for `n`). Per-delta work for text
is one C-level string quote, as in `anthropic_format`.

Stop sequences: a backend reports the sequence it stopped on or not (vLLM: the choice's
`stop_reason`; llama.cpp's chat endpoint: only `finish_reason: "stop"`, the same as for
end of turn, with the sequence cut from the text), and some let it through into the text.
So the renderer runs the text through a `StopMatcher` for the request's `stop_sequences`:
text that could begin one is held back until it is decided, a sequence that shows up in
the text ends the message there (it is not shown, later output is dropped) and is the
`stop_sequence`; otherwise a reported `stop_sequence` that is one of the request's is.
Only when neither says is a backend's "stop" an `end_turn`.

Stop reasons: a stop sequence → `stop_sequence`; tool calls (finish `tool_calls`, or `stop`
as vLLM reports a forced tool call) → `tool_use`; `length` → `max_tokens`;
`content_filter` → `refusal`; anything else → `end_turn`. Usage: `input_tokens` is the
prompt tokens not read from cache (Anthropic counts cached ones apart, as
`cache_read_input_tokens`); reasoning tokens show as `output_tokens_details.thinking_tokens`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from .anthropic_request import BlockType
from .chat import StopMatcher
from .errors import ApiError


class StopReason(StrEnum):
    """Anthropic `stop_reason` values this renderer produces."""

    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    STOP_SEQUENCE = "stop_sequence"
    TOOL_USE = "tool_use"
    REFUSAL = "refusal"


_BY_FINISH = {"length": StopReason.MAX_TOKENS, "content_filter": StopReason.REFUSAL}
_TOOL_FINISHES = frozenset({"tool_calls", "stop"})
_DELTA_TYPES = {
    BlockType.TEXT: ("text_delta", "text"),
    BlockType.THINKING: ("thinking_delta", "thinking"),
    BlockType.TOOL_USE: ("input_json_delta", "partial_json"),
}
_MESSAGE_STOP = 'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def stop_reason(finish_reason: str, stop_sequence: str | None, tool_use: bool) -> StopReason:
    """The Anthropic stop reason (see the module docstring)."""
    if stop_sequence is not None:
        return StopReason.STOP_SEQUENCE
    if tool_use and finish_reason in _TOOL_FINISHES:
        return StopReason.TOOL_USE
    return _BY_FINISH.get(finish_reason, StopReason.END_TURN)


def anthropic_usage(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    reasoning_tokens: int | None = None,
    cached_tokens: int | None = None,
) -> dict[str, Any]:
    """The Anthropic `usage` object for a chat usage report (see the module docstring)."""
    usage: dict[str, Any] = {
        "input_tokens": max(0, prompt_tokens - (cached_tokens or 0)),
        "output_tokens": completion_tokens,
    }
    if cached_tokens is not None:
        usage["cache_read_input_tokens"] = cached_tokens
    if reasoning_tokens is not None:
        usage["output_tokens_details"] = {"thinking_tokens": reasoning_tokens}
    return usage


def _event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


@dataclass(slots=True)
class _Block:
    """One content block as it is built."""

    type: BlockType
    parts: list[str] = field(default_factory=list)
    tool_id: str = ""
    name: str = ""

    def start_payload(self) -> dict[str, Any]:
        if self.type == BlockType.THINKING:
            return {"type": "thinking", "thinking": "", "signature": ""}
        if self.type == BlockType.TOOL_USE:
            return {"type": "tool_use", "id": self.tool_id, "name": self.name, "input": {}}
        return {"type": "text", "text": ""}

    def body(self) -> dict[str, Any]:
        text = "".join(self.parts)
        if self.type == BlockType.THINKING:
            return {"type": "thinking", "thinking": text, "signature": ""}
        if self.type == BlockType.TOOL_USE:
            return {
                "type": "tool_use",
                "id": self.tool_id,
                "name": self.name,
                "input": _input(text),
            }
        return {"type": "text", "text": text}


def _input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class AnthropicRenderer:
    """Renders one message from chat deltas; `stream` says whether to build SSE bytes."""

    __slots__ = (
        "_blocks",
        "_closed",
        "_final",
        "_matcher",
        "_open",
        "_out",
        "_started",
        "_stops",
        "_tools",
        "id",
        "input_tokens",
        "model",
        "stream",
    )

    def __init__(
        self,
        model: str,
        *,
        stream: bool,
        stop_sequences: Sequence[str] = (),
        message_id: str | None = None,
        input_tokens: int = 0,
    ) -> None:
        self.model = model
        self.stream = stream
        self.id = message_id or "msg_" + secrets.token_hex(12)
        self.input_tokens = input_tokens
        self._stops = frozenset(stop_sequences)
        self._matcher = StopMatcher(stop_sequences)
        self._blocks: list[_Block] = []
        self._tools: dict[int, int] = {}
        self._open: int | None = None
        self._out: list[str] = []
        self._started = False
        self._closed = False
        self._final: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        """True after `finish` or `error_event`; nothing more is emitted."""
        return self._closed

    # ---------------------------------------------------------------- events

    def _emit(self, piece: str) -> None:
        if self.stream:
            self._out.append(piece)

    def _flush(self) -> bytes:
        if not self._out:
            return b""
        if not self._started:
            self._started = True
            self._out.insert(0, self._message_start())
        out, self._out = "".join(self._out), []
        return out.encode()

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
        return _event("message_start", {"type": "message_start", "message": message})

    def start_event(self) -> bytes:
        """`message_start` (once). Optional: the first events send it if unsent."""
        if self._started or self._closed or not self.stream:
            return b""
        self._started = True
        return self._message_start().encode()

    # ---------------------------------------------------------------- blocks

    def _release_held(self) -> None:
        """Text held back as a possible stop sequence start goes out: its text has ended."""
        held = self._matcher.flush()
        if held:
            self._append(self._block_of(BlockType.TEXT), held)

    def _open_block(self, block: _Block) -> int:
        if block.type != BlockType.TEXT:
            self._release_held()
        self._close_open()
        index = len(self._blocks)
        self._blocks.append(block)
        self._open = index
        payload = {"type": "content_block_start", "index": index}
        self._emit(
            _event("content_block_start", {**payload, "content_block": block.start_payload()})
        )
        return index

    def _append(self, index: int, piece: str) -> None:
        block = self._blocks[index]
        block.parts.append(piece)
        if self.stream:
            kind, key = _DELTA_TYPES[block.type]
            self._out += (
                f'event: content_block_delta\ndata: {{"type":"content_block_delta","index":{index},'
                f'"delta":{{"type":"{kind}","{key}":',
                _quote(piece),
                "}}\n\n",
            )

    def _close_open(self) -> None:
        index, self._open = self._open, None
        if index is None:
            return
        if self._blocks[index].type == BlockType.THINKING:
            delta = {"type": "signature_delta", "signature": ""}
            payload = {"type": "content_block_delta", "index": index, "delta": delta}
            self._emit(_event("content_block_delta", payload))
        self._emit(_event("content_block_stop", {"type": "content_block_stop", "index": index}))

    def _block_of(self, kind: BlockType) -> int:
        if self._open is not None and self._blocks[self._open].type == kind:
            return self._open
        return self._open_block(_Block(kind))

    # ---------------------------------------------------------------- input

    def _text(self, text: str) -> None:
        shown = self._matcher.feed(text)
        if shown:
            self._append(self._block_of(BlockType.TEXT), shown)

    def _tool_call(self, call: Mapping[str, Any]) -> None:
        function = call.get("function") or {}
        position = call.get("index", 0)
        index = self._tools.get(position)
        if index is None:
            tool_id = call.get("id") or "toolu_" + secrets.token_hex(12)
            block = _Block(BlockType.TOOL_USE, tool_id=tool_id, name=function.get("name") or "")
            index = self._tools[position] = self._open_block(block)
        arguments = function.get("arguments")
        if arguments:
            self._append(index, arguments)

    def feed(self, deltas: Iterable[Mapping[str, Any]]) -> bytes:
        """Take deltas; return the SSE events they make (b"" when not streaming)."""
        if self._closed:
            return b""
        for delta in deltas:
            if delta.get("index", 0) != 0 or self._matcher.matched is not None:
                continue
            reasoning = delta.get("reasoning_content")
            if reasoning:
                self._append(self._block_of(BlockType.THINKING), reasoning)
            for key in ("content", "refusal"):
                text = delta.get(key)
                if text:
                    self._text(text)
            if self._matcher.matched is not None:
                continue
            for call in delta.get("tool_calls") or ():
                self._tool_call(call)
        return self._flush()

    def finish(
        self,
        finish_reason: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        reasoning_tokens: int | None = None,
        cached_tokens: int | None = None,
        stop_sequence: str | None = None,
    ) -> bytes:
        """Close the message: open block stop, message_delta, message_stop (when streaming).

        `stop_sequence` is what the backend reported, if anything; see the module docstring.
        """
        if self._closed:
            return b""
        self._release_held()
        self._close_open()
        matched = self._matcher.matched
        if matched is None and stop_sequence in self._stops:
            matched = stop_sequence
        tool_use = any(block.type == BlockType.TOOL_USE for block in self._blocks)
        reason = stop_reason(finish_reason, matched, tool_use)
        usage = anthropic_usage(
            prompt_tokens,
            completion_tokens,
            reasoning_tokens=reasoning_tokens,
            cached_tokens=cached_tokens,
        )
        self._final = {"stop_reason": reason, "stop_sequence": matched, "usage": usage}
        delta = {"stop_reason": reason, "stop_sequence": matched}
        self._emit(
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        self._emit(_MESSAGE_STOP)
        self._closed = True
        return self._flush()

    def message(self) -> dict[str, Any]:
        """The non-streaming `message` body; call after `finish`."""
        if self._final is None:
            raise RuntimeError("message() before finish()")
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [block.body() for block in self._blocks],
            **self._final,
        }

    def error_event(self, err: ApiError) -> bytes:
        """`event: error` with the Anthropic error body; the stream ends there."""
        if self._closed:
            return b""
        self._closed = True
        return _event("error", err.anthropic_body()).encode() if self.stream else b""
