"""Chat-completion deltas rendered as an OpenAI Responses answer: SSE events and the body.

`ResponsesRenderer` takes the wire's deltas (the fields of one chat chunk choice, choice 0
only: a Responses request never asks for `n`) in order and builds the response's output
items, each opened when its kind of output starts:

- `reasoning_content` → a `reasoning` item (`summary: []`, one `reasoning_text` content
  part; `response.reasoning_text.delta` events);
- `content` → an `output_text` part of a `message` item (`response.output_text.delta`),
  `refusal` → a `refusal` part of it (`response.refusal.delta`);
- `tool_calls` → one `function_call` item per call index (`call_id` the call's id, made up
  if it has none; `response.function_call_arguments.delta` per arguments fragment).

A reasoning or message item is done (`.done` events, `response.output_item.done`) when
another item opens; function calls stay open until the end, since a backend may
interleave the argument fragments of parallel calls. The stream opens with
`response.created` and `response.in_progress` and ends with `response.completed`, or
`response.incomplete` (items left open get status `incomplete`) when the output was cut:
finish `length` → `incomplete_details.reason` `max_output_tokens`, `content_filter` →
`content_filter`. Every event carries a `sequence_number` (0, 1, 2 ... in order). An
error after the stream began is an `error` event followed by `response.failed`.

The non-streamed body is the same renderer fed the whole answer at once (`stream=False`
collects no events). Per-delta work for text is one C-level string quote.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from .errors import ApiError
from .responses_request import NamedFunctionChoice, ResponsesRequest

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
_TEXT_DELTA = {"output_text": "response.output_text.delta", "refusal": "response.refusal.delta"}


def new_response_id() -> str:
    """A fresh response id (`resp_` + 48 hex digits)."""
    return "resp_" + secrets.token_hex(24)


def responses_usage(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    reasoning_tokens: int | None = None,
    cached_tokens: int | None = None,
) -> dict[str, Any]:
    """The Responses `usage` object for a chat usage report (`cache_write_tokens` is 0:
    chat servers report cache reads only)."""
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens or 0, "cache_write_tokens": 0},
        "output_tokens": completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens or 0},
        "total_tokens": prompt_tokens + completion_tokens,
    }


def request_echo(req: ResponsesRequest) -> dict[str, Any]:
    """The request's settings as a response object repeats them."""
    choice = req.tool_choice
    text_format = req.text.format if req.text and req.text.format else None
    reasoning = req.reasoning
    return {
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "metadata": req.metadata or {},
        "parallel_tool_calls": req.parallel_tool_calls is not False,
        "previous_response_id": req.previous_response_id,
        "reasoning": {
            "effort": reasoning.effort if reasoning else None,
            "summary": reasoning.summary if reasoning else None,
        },
        "store": req.store,
        "temperature": req.temperature,
        "text": {
            "format": (
                text_format.model_dump(exclude_none=True, by_alias=True)
                if text_format
                else {"type": "text"}
            )
        },
        "tool_choice": (
            choice.model_dump() if isinstance(choice, NamedFunctionChoice) else choice or "auto"
        ),
        "tools": [tool.model_dump(exclude_none=True) for tool in req.tools or ()],
        "top_p": req.top_p,
        "truncation": "disabled",
        "user": req.user,
    }


def error_code(status: int) -> str:
    """The Responses `error.code` of a failed response, by HTTP status."""
    if status == 429:
        return "rate_limit_exceeded"
    return "server_error" if status >= 500 else "invalid_prompt"


@dataclass(slots=True)
class _Part:
    type: str  # output_text | refusal | reasoning_text
    pieces: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        text = "".join(self.pieces)
        if self.type == "refusal":
            return {"type": "refusal", "refusal": text}
        if self.type == "output_text":
            return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        return {"type": "reasoning_text", "text": text}


@dataclass(slots=True)
class _Item:
    type: str  # message | reasoning | function_call
    id: str
    parts: list[_Part] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    status: str = "in_progress"

    def body(self, *, empty: bool = False) -> dict[str, Any]:
        status = self.status
        if self.type == "function_call":
            arguments = "" if empty else "".join(self.arguments)
            return {
                "id": self.id, "type": "function_call", "status": status,
                "call_id": self.call_id, "name": self.name, "arguments": arguments,
            }  # fmt: skip
        content = [] if empty else [part.body() for part in self.parts]
        if self.type == "reasoning":
            return {
                "id": self.id, "type": "reasoning", "status": status, "summary": [],
                "content": content,
            }  # fmt: skip
        return {
            "id": self.id, "type": "message", "status": status, "role": "assistant",
            "content": content,
        }  # fmt: skip


class ResponsesRenderer:
    """Renders one response from chat deltas; `stream` says whether to build SSE bytes."""

    def __init__(
        self,
        model: str,
        echo: Mapping[str, Any],
        *,
        stream: bool,
        response_id: str | None = None,
    ) -> None:
        self.model = model
        self.echo = dict(echo)
        self.stream = stream
        self.id = response_id or new_response_id()
        self.created_at = int(time.time())
        self._seq = 0
        self._items: list[_Item] = []
        self._open: int | None = None  # the open reasoning or message item
        self._calls: dict[int, int] = {}  # tool-call index → output index
        self._out: list[str] = []
        self._started = False
        self._closed = False
        self._final: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        """True after `finish` or `error_event`; nothing more is emitted."""
        return self._closed

    # ---------------------------------------------------------------- events

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.stream:
            payload = {"type": kind, **payload, "sequence_number": self._seq}
            self._seq += 1
            self._out.append(f"event: {kind}\ndata: {json.dumps(payload)}\n\n")

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        response = self.response_object("in_progress")
        self._emit("response.created", {"response": response})
        self._emit("response.in_progress", {"response": response})

    def _flush(self) -> bytes:
        if not self._out:
            return b""
        out, self._out = "".join(self._out), []
        return out.encode()

    def response_object(
        self,
        status: str,
        *,
        usage: dict[str, Any] | None = None,
        incomplete: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The response object in `status`, with the output built so far."""
        final = status != "in_progress"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": self.model,
            "output": [item.body() for item in self._items] if final else [],
            "usage": usage,
            **self.echo,
        }

    # ---------------------------------------------------------------- items

    def _where(self, index: int) -> dict[str, Any]:
        return {"item_id": self._items[index].id, "output_index": index}

    def _open_item(self, item: _Item) -> int:
        index = len(self._items)
        self._items.append(item)
        self._emit("response.output_item.added", {"output_index": index, "item": item.body()})
        return index

    def _close_part(self, index: int, part_index: int) -> None:
        item = self._items[index]
        part = item.parts[part_index].body()
        where = {**self._where(index), "content_index": part_index}
        if part["type"] == "output_text":
            self._emit("response.output_text.done", {**where, "text": part["text"], "logprobs": []})
        elif part["type"] == "refusal":
            self._emit("response.refusal.done", {**where, "refusal": part["refusal"]})
        else:
            self._emit("response.reasoning_text.done", {**where, "text": part["text"]})
        self._emit("response.content_part.done", {**where, "part": part})

    def _close_item(self, index: int, status: str) -> None:
        item = self._items[index]
        if item.type == "function_call":
            done = {**self._where(index), "name": item.name, "arguments": "".join(item.arguments)}
            self._emit("response.function_call_arguments.done", done)
        elif item.parts:
            self._close_part(index, len(item.parts) - 1)
        item.status = status
        self._emit("response.output_item.done", {"output_index": index, "item": item.body()})

    def _close_open(self) -> None:
        index, self._open = self._open, None
        if index is not None:
            self._close_item(index, "completed")

    def _text(self, kind: str, piece: str) -> None:
        """Append to the open item's part of `kind` (opening an item or part as needed)."""
        item_type = "reasoning" if kind == "reasoning_text" else "message"
        index = self._open
        if index is None or self._items[index].type != item_type:
            self._close_open()
            prefix = "rs_" if item_type == "reasoning" else "msg_"
            index = self._open = self._open_item(_Item(item_type, prefix + secrets.token_hex(24)))
        item = self._items[index]
        if not item.parts or item.parts[-1].type != kind:
            if item.parts:
                self._close_part(index, len(item.parts) - 1)
            item.parts.append(_Part(kind))
            where = {**self._where(index), "content_index": len(item.parts) - 1}
            self._emit("response.content_part.added", {**where, "part": item.parts[-1].body()})
        item.parts[-1].pieces.append(piece)
        if self.stream:
            self._delta(index, len(item.parts) - 1, kind, piece)

    def _delta(self, index: int, part_index: int, kind: str, piece: str) -> None:
        event = _TEXT_DELTA.get(kind, "response.reasoning_text.delta")
        logprobs = ',"logprobs":[]' if kind == "output_text" else ""
        self._out.append(
            f'event: {event}\ndata: {{"type":"{event}","item_id":"{self._items[index].id}",'
            f'"output_index":{index},"content_index":{part_index},"delta":{_quote(piece)}'
            f'{logprobs},"sequence_number":{self._seq}}}\n\n'
        )
        self._seq += 1

    def _tool_call(self, call: Mapping[str, Any]) -> None:
        function = call.get("function") or {}
        position = call.get("index", 0)
        index = self._calls.get(position)
        if index is None:
            self._close_open()
            call_id = call.get("id") or "call_" + secrets.token_hex(12)
            item = _Item(
                "function_call", "fc_" + secrets.token_hex(24), call_id=call_id,
                name=function.get("name") or "",
            )  # fmt: skip
            index = self._calls[position] = self._open_item(item)
        arguments = function.get("arguments")
        if arguments:
            self._items[index].arguments.append(arguments)
            delta = {**self._where(index), "delta": arguments}
            self._emit("response.function_call_arguments.delta", delta)

    # ---------------------------------------------------------------- input

    def feed(self, deltas: Iterable[Mapping[str, Any]]) -> bytes:
        """Take deltas; return the SSE events they make (b"" when not streaming)."""
        if self._closed:
            return b""
        self._start()
        for delta in deltas:
            if delta.get("index", 0) != 0:
                continue
            reasoning = delta.get("reasoning_content")
            if reasoning:
                self._text("reasoning_text", reasoning)
            for key, kind in (("content", "output_text"), ("refusal", "refusal")):
                text = delta.get(key)
                if text:
                    self._text(kind, text)
            for call in delta.get("tool_calls") or ():
                self._tool_call(call)
        return self._flush()

    def finish(self, finish_reason: str, usage: dict[str, Any]) -> bytes:
        """Close every item and end with `response.completed` or `response.incomplete`."""
        if self._closed:
            return b""
        self._start()
        incomplete = _INCOMPLETE.get(finish_reason)
        status = "incomplete" if incomplete else "completed"
        self._open = None
        for index, item in enumerate(self._items):
            if item.status == "in_progress":
                self._close_item(index, status)
        self._final = self.response_object(status, usage=usage, incomplete=incomplete)
        self._emit(f"response.{status}", {"response": self._final})
        self._closed = True
        return self._flush()

    def response(self) -> dict[str, Any]:
        """The final response object; call after `finish`."""
        if self._final is None:
            raise RuntimeError("response() before finish()")
        return self._final

    def error_event(self, err: ApiError) -> bytes:
        """`error`, then `response.failed` with the error; the stream ends there."""
        if self._closed:
            return b""
        self._start()
        self._closed = True
        error = {"code": err.code, "message": err.message, "param": err.param}
        self._emit("error", error)
        failed = {"code": error_code(err.status), "message": err.message}
        self._emit("response.failed", {"response": self.response_object("failed", error=failed)})
        return self._flush()
