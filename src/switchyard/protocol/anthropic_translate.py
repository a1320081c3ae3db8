"""An Anthropic Messages request as an OpenAI chat-completions body (pure, no I/O).

`anthropic_to_chat` checks what spans fields (raising a 400 `ApiError` naming the field)
and builds the body the wire carries (`inference_request.request`):

- `system` (string or text blocks joined with "\\n") → a leading system message;
- a user turn → `tool` messages for its `tool_result` blocks (`tool_call_id` = the
  `tool_use_id`; content a string, or text and image_url parts when it holds images;
  `is_error` marked by prefixing `TOOL_ERROR_PREFIX` to its text) and user messages for
  its text and image blocks, in block order; text only gives a string (blocks joined
  with "\\n"), images give parts, base64 as a `data:` URL;
- an assistant turn → one assistant message: text blocks joined as `content` ("" when
  there is none), thinking blocks joined as `reasoning_content` (the name vLLM's and
  llama.cpp's chat templates read), tool_use blocks as `tool_calls` in order, `input`
  serialized as the JSON `arguments`;
- `tools` → function tools (`input_schema` → `parameters`, `strict` kept);
  `tool_choice` auto/any/tool/none → "auto"/"required"/{"type": "function", ...}/"none",
  `disable_parallel_tool_use` → `parallel_tool_calls: false`;
- `thinking` → `chat_template_kwargs.enable_thinking` (true for enabled and adaptive,
  false for disabled): the switch both vLLM (Qwen3-style templates) and llama.cpp (which
  reads that key itself) honour per request. Neither takes a per-request reasoning budget,
  so `budget_tokens` is checked (at least 1024, below `max_tokens`) and not sent;
- `stop_sequences` → `stop`; `max_tokens`, `temperature`, `top_p`, `top_k`, `stream`
  as given. `metadata.user_id` is never sent (privacy); `service_tier` and
  `cache_control` have no upstream counterpart and are not sent.
"""

from __future__ import annotations

import json
from typing import Any

from .anthropic_request import (
    AnthropicMessagesRequest,
    AssistantMessage,
    Base64Source,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ThinkingType,
    ToolChoice,
    ToolChoiceType,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from .chat import PART_SEPARATOR
from .errors import ApiError, invalid_request
from .vocabulary import ApiErrorCode

#: Prefixed to the text of a `tool_result` with `is_error: true` (chat has no such flag).
TOOL_ERROR_PREFIX = "Error: "

_TOOL_CHOICE = {
    ToolChoiceType.AUTO: "auto",
    ToolChoiceType.ANY: "required",
    ToolChoiceType.NONE: "none",
}


def _invalid(param: str, message: str) -> ApiError:
    return invalid_request(
        f"Invalid value for '{param}': {message}.", param=param, code=ApiErrorCode.INVALID_VALUE
    )


def _check(req: AnthropicMessagesRequest) -> None:
    """The checks that span fields, as Anthropic makes them."""
    names = {tool.name for tool in req.tools or ()}
    choice = req.tool_choice
    if choice is not None and choice.name is not None and choice.name not in names:
        raise _invalid("tool_choice.name", "it names no tool of 'tools'")
    if choice is not None and choice.type == ToolChoiceType.ANY and not names:
        raise _invalid("tool_choice.type", "'any' needs at least one tool in 'tools'")
    budget = req.thinking.budget_tokens if req.thinking else None
    if budget is not None and budget >= req.max_tokens:
        raise _invalid("thinking.budget_tokens", "it must be less than max_tokens")
    offered: set[str] = set()
    for i, message in enumerate(req.messages):
        blocks = message.content
        if isinstance(message, AssistantMessage):
            offered = {b.id for b in blocks if isinstance(b, ToolUseBlock)}
            continue
        for j, block in enumerate(blocks):
            if isinstance(block, ToolResultBlock) and block.tool_use_id not in offered:
                raise _invalid(
                    f"messages[{i}].content[{j}].tool_use_id",
                    "it answers no tool_use block of the assistant message before it",
                )
        offered = set()


def _image_part(block: ImageBlock) -> dict[str, Any]:
    source = block.source
    if isinstance(source, Base64Source):
        url = f"data:{source.media_type};base64,{source.data}"
    else:
        url = source.url
    return {"type": "image_url", "image_url": {"url": url}}


def _content(blocks: list[TextBlock | ImageBlock], prefix: str = "") -> str | list[dict[str, Any]]:
    """Text only: one string; with images: text and image_url parts in order."""
    if all(isinstance(b, TextBlock) for b in blocks):
        return prefix + PART_SEPARATOR.join(b.text for b in blocks if isinstance(b, TextBlock))
    parts: list[dict[str, Any]] = [{"type": "text", "text": prefix}] if prefix else []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        else:
            parts.append(_image_part(block))
    return parts


def _tool_message(block: ToolResultBlock) -> dict[str, Any]:
    prefix = TOOL_ERROR_PREFIX if block.is_error else ""
    content = _content(list(block.content), prefix)
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": content}


def _user_messages(message: UserMessage) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    run: list[TextBlock | ImageBlock] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            if run:
                out.append({"role": "user", "content": _content(run)})
                run = []
            out.append(_tool_message(block))
        else:
            run.append(block)
    if run:
        out.append({"role": "user", "content": _content(run)})
    return out


def tool_arguments(tool_input: dict[str, Any]) -> str:
    """A tool_use `input` as chat `arguments` (JSON text, non-ASCII kept)."""
    return json.dumps(tool_input, ensure_ascii=False)


def _assistant_message(message: AssistantMessage) -> dict[str, Any]:
    blocks = message.content
    out: dict[str, Any] = {
        "role": "assistant",
        "content": PART_SEPARATOR.join(b.text for b in blocks if isinstance(b, TextBlock)),
    }
    thinking = [b.thinking for b in blocks if isinstance(b, ThinkingBlock)]
    if thinking:
        out["reasoning_content"] = PART_SEPARATOR.join(thinking)
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {"name": b.name, "arguments": tool_arguments(b.input)},
        }
        for b in blocks
        if isinstance(b, ToolUseBlock)
    ]
    if calls:
        out["tool_calls"] = calls
    return out


def chat_messages(req: AnthropicMessagesRequest) -> list[dict[str, Any]]:
    """The chat `messages` of a request: system first, then each turn translated."""
    out: list[dict[str, Any]] = []
    system = PART_SEPARATOR.join(block.text for block in req.system or ())
    if system:
        out.append({"role": "system", "content": system})
    for message in req.messages:
        if isinstance(message, UserMessage):
            out += _user_messages(message)
        else:
            out.append(_assistant_message(message))
    return out


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.type == ToolChoiceType.TOOL:
        return {"type": "function", "function": {"name": choice.name}}
    return _TOOL_CHOICE[choice.type]


def anthropic_to_chat(req: AnthropicMessagesRequest) -> dict[str, Any]:
    """The OpenAI chat-completions body for a Messages request; 400 `ApiError` if inconsistent."""
    _check(req)
    body: dict[str, Any] = {
        "model": req.model,
        "messages": chat_messages(req),
        "max_tokens": req.max_tokens,
        "stream": req.stream,
    }
    sampling = {"temperature": req.temperature, "top_p": req.top_p, "top_k": req.top_k}
    body.update((k, v) for k, v in sampling.items() if v is not None)
    if req.stop_sequences:
        body["stop"] = list(req.stop_sequences)
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "parameters": tool.input_schema,
                    **({"description": tool.description} if tool.description else {}),
                    **({"strict": tool.strict} if tool.strict is not None else {}),
                },
            }
            for tool in req.tools
        ]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice(req.tool_choice)
        if req.tool_choice.disable_parallel_tool_use:
            body["parallel_tool_calls"] = False
    if req.thinking is not None:
        enabled = req.thinking.type != ThinkingType.DISABLED
        body["chat_template_kwargs"] = {"enable_thinking": enabled}
    return body
