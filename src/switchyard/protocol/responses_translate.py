"""A Responses request as an OpenAI chat-completions body (pure, no I/O).

`input_items` turns `input` into a list of items (a string is one user message), each
checked and normalized (null fields dropped); a bad item is a 400 naming it
(`input[2].content[0].image_url`). `responses_to_chat` builds the wire body from the
items of the conversation (a stored one first, for `previous_response_id`):

- `instructions` → a leading system message (never stored: OpenAI does not carry
  instructions over to the next response either);
- a `message` of role user/system/developer → that chat turn (developer as system);
  `input_text` parts → `text`, `input_image` (`image_url`: `https://` or
  `data:image/...`) → `image_url` with its `detail`; system turns take text only;
- assistant items — `message` (`output_text` joined as `content`, `refusal`),
  `reasoning` (its `reasoning_text` content, else its summary, as `reasoning_content`)
  and `function_call` (→ `tool_calls`, `call_id` as the id) — that follow each other
  form one assistant turn, as a chat model produced them;
- `function_call_output` → a `tool` message (`call_id` must answer an earlier
  `function_call`); its output a string, or text and image parts;
- function `tools` → chat tools, `tool_choice` likewise, `text.format` →
  `response_format`, `reasoning.effort` → `reasoning_effort`, `max_output_tokens` →
  `max_tokens`, `temperature`, `top_p`, `parallel_tool_calls` as given.

An item's `id` (a string of 1 to 256 characters) and `status` (`in_progress`,
`completed`, `incomplete`) are checked and kept, never sent: a stored response lists its
input items with them (`responses_items.py`).

Item types without a chat counterpart (`item_reference`, built-in tool calls and their
outputs, `input_file`, `input_audio`, images by `file_id`, `encrypted_content`) are 400s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .chat_parts import IMAGE_URL_PREFIXES
from .errors import ApiError, invalid_request
from .openai_api import stream_wire
from .responses_items import ITEM_STATUSES, MAX_ITEM_ID
from .responses_request import NamedFunctionChoice, ResponsesRequest
from .vocabulary import ApiErrorCode

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MAX_ID = 256
_ROLES = ("user", "system", "developer", "assistant")
_ITEM_KEYS: dict[str, frozenset[str]] = {
    "message": frozenset({"type", "role", "content", "id", "status", "phase"}),
    "function_call": frozenset(
        {"type", "call_id", "name", "arguments", "id", "status", "namespace"}
    ),
    "function_call_output": frozenset({"type", "call_id", "output", "id", "status"}),
    "reasoning": frozenset({"type", "id", "summary", "content", "status", "encrypted_content"}),
}


def _bad(param: str, message: str) -> ApiError:
    return invalid_request(
        f"Invalid value for '{param}': {message}.", param=param, code=ApiErrorCode.INVALID_VALUE
    )


def _no_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def _string(item: dict[str, Any], key: str, param: str, max_len: int | None = None) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise _bad(f"{param}.{key}", "expected a string")
    if max_len is not None and not 1 <= len(value) <= max_len:
        raise _bad(f"{param}.{key}", f"expected 1 to {max_len} characters")
    return value


def _check_keys(item: dict[str, Any], allowed: Iterable[str], param: str) -> None:
    for key in item:
        if key not in allowed:
            raise _bad(f"{param}.{key}", "this field is not supported here")


# ----------------------------------------------------------------- parts


def _part(raw: Any, param: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(param, "a content part must be an object")
    part = _no_nulls(raw)
    kind = part.get("type")
    if kind not in allowed:
        raise _bad(
            f"{param}.type",
            f"content part type {str(kind)[:80]!r} is not supported here "
            f"(supported: {', '.join(allowed)})",
        )
    if kind == "input_image":
        _check_keys(part, ("type", "image_url", "detail"), param)
        url = _string(part, "image_url", param)
        if not url.startswith(IMAGE_URL_PREFIXES):
            raise _bad(f"{param}.image_url", "an image URL must start with https:// or data:image/")
        if part.get("detail") not in (None, "auto", "low", "high"):
            raise _bad(f"{param}.detail", "expected auto, low or high")
        return part
    key = "refusal" if kind == "refusal" else "text"
    extra = ("annotations", "logprobs") if kind == "output_text" else ()
    _check_keys(part, ("type", key, *extra), param)
    _string(part, key, param)
    for name in extra:
        if part.get(name) not in (None, []):
            raise _bad(f"{param}.{name}", "only an empty list is accepted")
    return {"type": kind, key: part[key]}


def _content(value: Any, param: str, allowed: tuple[str, ...]) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise _bad(param, "expected a string or a non-empty list of content parts")
    return [_part(p, f"{param}[{i}]", allowed) for i, p in enumerate(value)]


# ----------------------------------------------------------------- items


def _item(raw: Any, param: str) -> dict[str, Any]:
    """One input item, checked and normalized (400 naming what is wrong)."""
    if not isinstance(raw, dict):
        raise _bad(param, "an input item must be an object")
    item = _no_nulls(raw)
    kind = item.get("type", "message" if "role" in item else None)
    if not isinstance(kind, str) or kind not in _ITEM_KEYS:
        shown = repr(kind) if isinstance(kind, str) else "of a non-string"
        raise _bad(f"{param}.type", f"input item type {shown[:80]} is not supported")
    item["type"] = kind
    _check_keys(item, _ITEM_KEYS[kind], param)
    if "id" in item:
        _string(item, "id", param, MAX_ITEM_ID)
    if item.get("status", "completed") not in ITEM_STATUSES:
        raise _bad(f"{param}.status", "expected in_progress, completed or incomplete")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise _bad(f"{param}.role", "expected user, system, developer or assistant")
        allowed = {
            "user": ("input_text", "input_image"),
            "assistant": ("output_text", "refusal"),
        }.get(role, ("input_text",))
        item["content"] = _content(item.get("content"), f"{param}.content", allowed)
    elif kind == "function_call":
        _string(item, "call_id", param, _MAX_ID)
        if not _TOOL_NAME.match(_string(item, "name", param)):
            raise _bad(f"{param}.name", "expected ^[a-zA-Z0-9_-]{1,64}$")
        _string(item, "arguments", param)
        if "namespace" in item:
            raise _bad(f"{param}.namespace", "tool namespaces are not supported")
    elif kind == "function_call_output":
        _string(item, "call_id", param, _MAX_ID)
        item["output"] = _content(
            item.get("output"), f"{param}.output", ("input_text", "input_image")
        )
    else:
        if "encrypted_content" in item:
            raise _bad(f"{param}.encrypted_content", "encrypted reasoning is not supported")
        for key, part_type in (("summary", "summary_text"), ("content", "reasoning_text")):
            parts = item.get(key, [])
            if not isinstance(parts, list):
                raise _bad(f"{param}.{key}", "expected a list")
            item[key] = [_part(p, f"{param}.{key}[{i}]", (part_type,)) for i, p in enumerate(parts)]
        item.setdefault("summary", [])
    return item


def input_items(req: ResponsesRequest) -> list[dict[str, Any]]:
    """The request's `input` as checked, normalized items."""
    if isinstance(req.input, str):
        return [{"type": "message", "role": "user", "content": req.input}]
    return [_item(raw, f"input[{i}]") for i, raw in enumerate(req.input)]


# ----------------------------------------------------------------- chat messages


def _chat_parts(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    out: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "input_image":
            image = {"url": part["image_url"]}
            if "detail" in part:
                image["detail"] = part["detail"]
            out.append({"type": "image_url", "image_url": image})
        else:
            out.append({"type": "text", "text": part["text"]})
    return out


def _texts(parts: list[dict[str, Any]], kind: str, key: str = "text") -> list[str]:
    return [p[key] for p in parts if p["type"] == kind]


class _Builder:
    """Chat messages from items in order, one assistant turn per run of assistant items."""

    def __init__(self, offset: int) -> None:
        self.messages: list[dict[str, Any]] = []
        self.assistant: dict[str, Any] | None = None
        self.calls: set[str] = set()
        self.offset = offset

    def _turn(self, *, new_if: tuple[str, ...]) -> dict[str, Any]:
        turn = self.assistant
        if turn is None or any(turn.get(key) for key in new_if):
            turn = self.assistant = {"role": "assistant", "content": ""}
            self.messages.append(turn)
        return turn

    def add(self, index: int, item: dict[str, Any]) -> None:
        kind = item["type"]
        if kind == "message" and item["role"] == "assistant":
            turn = self._turn(new_if=("content", "refusal", "tool_calls"))
            content = item["content"]
            if isinstance(content, str):
                turn["content"] = content
            else:
                turn["content"] = "".join(_texts(content, "output_text"))
                refusal = "".join(_texts(content, "refusal", "refusal"))
                if refusal:
                    turn["refusal"] = refusal
        elif kind == "reasoning":
            turn = self._turn(new_if=("content", "refusal", "tool_calls", "reasoning_content"))
            texts = _texts(item.get("content", []), "reasoning_text") or _texts(
                item["summary"], "summary_text"
            )
            turn["reasoning_content"] = "\n".join(texts)
        elif kind == "function_call":
            turn = self._turn(new_if=())
            function = {"name": item["name"], "arguments": item["arguments"]}
            call = {"id": item["call_id"], "type": "function", "function": function}
            turn.setdefault("tool_calls", []).append(call)
            self.calls.add(item["call_id"])
        else:
            self.assistant = None
            if kind == "function_call_output":
                if item["call_id"] not in self.calls:
                    param = f"input[{index - self.offset}].call_id"
                    raise _bad(param, "it answers no function_call before it")
                content = _chat_parts(item["output"])
                self.messages.append(
                    {"role": "tool", "tool_call_id": item["call_id"], "content": content}
                )
            else:
                role = "system" if item["role"] == "developer" else item["role"]
                self.messages.append({"role": role, "content": _chat_parts(item["content"])})


def chat_messages(
    instructions: str | None, history: list[dict[str, Any]], items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Chat messages for `instructions`, then the stored `history`, then the new `items`."""
    builder = _Builder(offset=len(history))
    if instructions:
        builder.messages.append({"role": "system", "content": instructions})
    for index, item in enumerate([*history, *items]):
        builder.add(index, item)
    for message in builder.messages:
        if message.get("tool_calls") and not message["content"]:
            message["content"] = None
    return builder.messages


# ----------------------------------------------------------------- the body


def _tool_choice(choice: str | NamedFunctionChoice) -> str | dict[str, Any]:
    if isinstance(choice, NamedFunctionChoice):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def responses_to_chat(
    req: ResponsesRequest, history: list[dict[str, Any]], items: list[dict[str, Any]]
) -> dict[str, Any]:
    """The wire chat-completions body (see the module docstring)."""
    body: dict[str, Any] = {
        "model": req.model,
        "messages": chat_messages(req.instructions, history, items),
    }
    if req.max_output_tokens is not None:
        body["max_tokens"] = req.max_output_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": tool.model_dump(exclude={"type"}, exclude_none=True, by_alias=True),
            }
            for tool in req.tools
        ]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice(req.tool_choice)
    if req.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    text_format = req.text.format if req.text else None
    if text_format is not None and text_format.type != "text":
        if text_format.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        else:
            schema = text_format.model_dump(exclude={"type"}, exclude_none=True, by_alias=True)
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
    if req.reasoning is not None and req.reasoning.effort is not None:
        body["reasoning_effort"] = req.reasoning.effort
    return stream_wire(body)
