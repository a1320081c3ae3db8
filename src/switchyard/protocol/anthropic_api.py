"""Anthropic Messages API request model and its translation to the wire's normalized chat.

`MessagesRequest` is the body of `POST /v1/messages`: strict types, unknown fields (tools,
thinking, tool_choice, ...) ignored. Supported content is text only: a string or a list of
`{"type": "text", "text": ...}` blocks (extra block keys such as `cache_control` are
ignored; several blocks are joined with "\\n"). `system` (string or text blocks) becomes a
leading system message. The conversation must start with a user turn. `top_k` is passed
through to the provider; `temperature` (0..1 here) is passed unchanged.
A final assistant turn (Anthropic's "prefill") is passed to the provider as an ordinary
assistant message; whether the backend continues it depends on its chat template.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from .chat import MAX_MESSAGES, MAX_OUTPUT_TOKENS, flatten_text_parts, normalize_stop
from .openai_api import stream_wire

Text = Annotated[str, BeforeValidator(flatten_text_parts)]


class _Request(BaseModel):
    """Common config: strict types, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class MessageIn(_Request):
    """One conversation turn."""

    role: Literal["user", "assistant"]
    content: Text


class Metadata(_Request):
    """`metadata`: only `user_id` is read (for logs)."""

    user_id: Annotated[str, StringConstraints(max_length=1024)] | None = None


class MessagesRequest(_Request):
    """Body of `POST /v1/messages`."""

    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    max_tokens: Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
    messages: list[MessageIn]
    system: Text | None = None
    stop_sequences: Annotated[list[str] | None, BeforeValidator(normalize_stop)] = None
    temperature: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    stream: bool = False
    metadata: Metadata | None = None

    @field_validator("messages")
    @classmethod
    def _conversation_shape(cls, value: list[MessageIn]) -> list[MessageIn]:
        if not value:
            raise PydanticCustomError("empty_messages", "at least one message is required")
        if len(value) + 1 > MAX_MESSAGES:
            raise PydanticCustomError(
                "too_many_messages",
                "at most {limit} messages are allowed",
                {"limit": MAX_MESSAGES - 1},
            )
        if value[0].role != "user":
            raise PydanticCustomError(
                "first_message_role", "the first message must use the 'user' role"
            )
        return value


def messages_wire_request(req: MessagesRequest) -> dict[str, Any]:
    """The wire (chat-completions) body for a Messages request (system prompt first)."""
    messages = [{"role": "system", "content": req.system}] if req.system else []
    messages += [{"role": m.role, "content": m.content} for m in req.messages]
    wire: dict[str, Any] = {"model": req.model, "messages": messages, "max_tokens": req.max_tokens}
    for name, value in (
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("top_k", req.top_k),
        ("stop", req.stop_sequences),
    ):
        if value is not None:
            wire[name] = value
    return stream_wire(wire)
