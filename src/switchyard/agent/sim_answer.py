"""What the simulated backend answers to a chat-completions body: a plan of token steps.

`plan_answer(request, ...)` reads the OpenAI chat-completions body and returns an `Answer`:
the steps to stream (each step is one token: the delta dicts emitted together) and the
finish reason if nothing cuts it short. Same body, same answer:

- reasoning first, when asked for the vLLM way (`chat_template_kwargs.enable_thinking`
  true) or the OpenAI way (`reasoning_effort` other than `"none"`): `reasoning_content`
  deltas `think0 think1 ...`;
- with `tools` (and `tool_choice` not `"none"`): one call to the first tool, or the one
  `tool_choice` names, whose arguments are built from its parameters schema
  (`sim_schema.example_object`) and streamed as OpenAI does (a first delta with the id,
  type, name and empty arguments, then argument fragments); finish reason `tool_calls`.
  When the last message is a tool result and no call is forced (`tool_choice` `"auto"` or
  absent), it answers in text instead, so agent loops end;
- with `response_format` `json_schema`: JSON content valid against the schema;
  `json_object`: the small object `JSON_OBJECT_ANSWER`;
- otherwise the words `tok0 tok1 ...` (`output_tokens` of them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import BackendError, FinishReason
from .sim_schema import example_object, example_value

#: Characters of JSON per streamed fragment (about one token).
FRAGMENT_CHARS = 4
#: The `json_object` answer.
JSON_OBJECT_ANSWER: dict[str, Any] = {"answer": "tok0 tok1 tok2"}

Step = list[dict[str, Any]]


class ToolChoice(StrEnum):
    """The string values of OpenAI's `tool_choice`."""

    NONE = "none"
    AUTO = "auto"
    REQUIRED = "required"


class ResponseFormat(StrEnum):
    """The `response_format.type` values."""

    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


@dataclass(frozen=True, slots=True)
class Answer:
    """The planned stream: reasoning steps, then body steps; each step is one token."""

    reasoning: list[Step]
    body: list[Step]
    finish_reason: FinishReason


def simulated_token(i: int) -> str:
    """The `i`-th word of the plain answer (`tok0`, ` tok1`, ...)."""
    return f"tok{i}" if i == 0 else f" tok{i}"


def simulated_text(n_tokens: int) -> str:
    """The plain text the simulator produces for `n_tokens` tokens (handy in tests)."""
    return "".join(simulated_token(i) for i in range(n_tokens))


def reasoning_text(n_tokens: int) -> str:
    """The reasoning the simulator produces for `n_tokens` tokens (`think0 think1 ...`)."""
    return "".join(("think" if i == 0 else " think") + str(i) for i in range(n_tokens))


def wants_reasoning(request: Mapping[str, Any]) -> bool:
    """Whether the body asks for reasoning (vLLM's or OpenAI's way)."""
    kwargs = request.get("chat_template_kwargs")
    if isinstance(kwargs, dict) and kwargs.get("enable_thinking") is True:
        return True
    effort = request.get("reasoning_effort")
    return isinstance(effort, str) and effort != "none"


def plan_answer(request: Mapping[str, Any], *, output_tokens: int, reasoning_tokens: int) -> Answer:
    """The answer to `request`; BackendError (status 400) if `tool_choice` names no tool."""
    reasoning: list[Step] = []
    if wants_reasoning(request):
        text = reasoning_text(reasoning_tokens)
        reasoning = [[{"reasoning_content": p}] for p in _split_words(text)]
    tool = _chosen_tool(request)
    if tool is not None:
        return Answer(reasoning, _tool_call_steps(request, tool), "tool_calls")
    content = _structured_content(request.get("response_format"))
    if content is not None:
        return Answer(reasoning, [[{"content": p}] for p in fragments(content)], "stop")
    plain = [[{"content": simulated_token(i)}] for i in range(output_tokens)]
    return Answer(reasoning, plain, "stop")


def fragments(text: str, size: int = FRAGMENT_CHARS) -> list[str]:
    """`text` in pieces of `size` characters (their concatenation is `text`)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def _split_words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def _chosen_tool(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The function the answer calls, or None for a text answer."""
    tools = [
        t["function"]
        for t in request.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = request.get("tool_choice")
    if not tools or choice == ToolChoice.NONE:
        return None
    if isinstance(choice, dict):
        named = choice.get("function")
        name = named.get("name") if isinstance(named, dict) else None
        for fn in tools:
            if fn.get("name") == name:
                return fn
        raise BackendError(
            StreamErrorCode.UPSTREAM_REJECTED,
            f"tool_choice names the function {name!r}, which is not in tools",
            retryable=False,
            status=400,
        )
    messages = request.get("messages") or []
    last = messages[-1] if isinstance(messages, list) and messages else None
    answered = isinstance(last, dict) and last.get("role") == "tool"
    if answered and choice != ToolChoice.REQUIRED:
        return None
    return tools[0]


def _tool_call_steps(request: Mapping[str, Any], fn: dict[str, Any]) -> list[Step]:
    name = str(fn.get("name", ""))
    arguments = json.dumps(example_object(fn.get("parameters")))
    seed = json.dumps([name, request.get("messages")], sort_keys=True, default=str)
    call_id = "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]
    head = {
        "tool_calls": [
            {
                "index": 0,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
        ]
    }
    steps = [
        [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]}] for p in fragments(arguments)
    ]
    steps[0].insert(0, head)
    return steps


def _structured_content(response_format: Any) -> str | None:
    """The JSON text a `response_format` asks for, or None for free text."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == ResponseFormat.JSON_OBJECT:
        return json.dumps(JSON_OBJECT_ANSWER)
    if kind == ResponseFormat.JSON_SCHEMA:
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            return json.dumps(JSON_OBJECT_ANSWER)
        return json.dumps(example_value(schema))
    return None
