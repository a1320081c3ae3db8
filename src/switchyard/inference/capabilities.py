"""Which capabilities a request needs, and the 400 when its model has none of them.

`required_capabilities` reads a request body as JSON (a dict): an OpenAI chat-completions
body, or an Anthropic Messages body before its translation, since both name `tools` and
carry images as content parts. A request needs

- `tools` when it offers tools (`tools` or the legacy `functions`, non-empty);
- `vision` when a message holds an image part (`image_url`, `input_image`, or Anthropic
  `image` blocks, also inside `tool_result` blocks);
- `json_schema` when `response_format.type` is `json_schema`;
- `reasoning` when it asks for reasoning: `reasoning_effort` (other than `none`), a
  `reasoning` object (unless `enabled: false` or effort `none`), `chat_template_kwargs`
  with `enable_thinking` / `thinking` true, or Anthropic `thinking` of type `enabled`.

The scheduler routes such a request only to providers that do not say "no" to what it
needs; `check_capabilities` turns "every provider online says no" into a 400 naming the
capability before anything is held.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..actors.scheduler_messages import ModelProfile
from ..protocol.errors import ApiError, invalid_request
from ..protocol.vocabulary import ApiErrorCode, Capability

#: The request field that asks for each capability (the 400's `param`).
CAPABILITY_PARAM: dict[Capability, str] = {
    Capability.TOOLS: "tools",
    Capability.VISION: "messages",
    Capability.JSON_SCHEMA: "response_format",
    Capability.REASONING: "reasoning_effort",
    Capability.COMPLETIONS: "prompt",
    Capability.EMBEDDINGS: "input",
}

_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})
_NO_EFFORT = (None, "none")


def required_capabilities(body: Mapping[str, Any]) -> frozenset[Capability]:
    """The capabilities `body` needs of its model (see the module docstring)."""
    needs: set[Capability] = set()
    if _non_empty_list(body.get("tools")) or _non_empty_list(body.get("functions")):
        needs.add(Capability.TOOLS)
    if _has_image(body.get("messages")):
        needs.add(Capability.VISION)
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        needs.add(Capability.JSON_SCHEMA)
    if _wants_reasoning(body):
        needs.add(Capability.REASONING)
    return frozenset(needs)


def check_capabilities(model: str, needs: frozenset[Capability], profile: ModelProfile) -> None:
    """400 `unsupported_capability` when every provider online lacks one of `needs`."""
    if not needs:
        return
    lacking = profile.lacks(needs)
    if lacking:
        raise unsupported_capability(model, lacking)


def unsupported_capability(model: str, lacking: list[Capability]) -> ApiError:
    """The 400 for a request needing `lacking` (first one named as the parameter)."""
    names = ", ".join(c.value for c in lacking)
    return invalid_request(
        f"Model '{model}' does not support {names}: no provider serving it has "
        f"{'this capability' if len(lacking) == 1 else 'these capabilities'}.",
        param=CAPABILITY_PARAM[lacking[0]],
        code=ApiErrorCode.UNSUPPORTED_CAPABILITY,
    )


def _non_empty_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0


def _has_image(messages: Any) -> bool:
    if not isinstance(messages, list):
        return False
    for message in messages:
        if isinstance(message, Mapping) and _parts_have_image(message.get("content")):
            return True
    return False


def _parts_have_image(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in _IMAGE_PARTS:
            return True
        if kind == "tool_result" and _parts_have_image(part.get("content")):
            return True
    return False


def _wants_reasoning(body: Mapping[str, Any]) -> bool:
    if body.get("reasoning_effort") not in _NO_EFFORT:
        return True
    reasoning = body.get("reasoning")
    if (
        isinstance(reasoning, Mapping)
        and reasoning.get("enabled") is not False
        and reasoning.get("effort") != "none"
    ):
        return True
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, Mapping) and (
        kwargs.get("enable_thinking") is True or kwargs.get("thinking") is True
    ):
        return True
    thinking = body.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") == "enabled"


__all__ = [
    "CAPABILITY_PARAM",
    "check_capabilities",
    "required_capabilities",
    "unsupported_capability",
]
