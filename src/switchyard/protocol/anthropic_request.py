"""The full Anthropic Messages request (`POST /v1/messages`) as pydantic models (pure, no I/O).

`AnthropicMessagesRequest` validates everything the route accepts; `anthropic_translate`
turns it into an OpenAI chat-completions body. What is accepted:

- content as a string or blocks: `text`, `image` (base64 with an image media type, or an
  https `url`), `tool_result` (string or text/image blocks, `is_error`) in user turns;
  `text`, `thinking` and `tool_use` in assistant turns. Any other block type (documents,
  server tools, `redacted_thinking`...) is a 400 naming the block, as is any unknown key
  of a block. `cache_control` is accepted everywhere Anthropic takes it and not forwarded
  (backends cache prompt prefixes on their own);
- `system` as a string or text blocks; `tools` (custom tools: `name`, `description`,
  `input_schema`, `strict`), `tool_choice` (`auto`, `any`, `tool`, `none`, with
  `disable_parallel_tool_use`), `thinking` (`enabled` with `budget_tokens` >= 1024,
  `adaptive`, `disabled`), `stop_sequences`, `temperature`, `top_p`,
  `top_k`, `metadata.user_id` (read, never forwarded), `service_tier` (one tier here),
  `stream`. Any other top-level field is a 400 naming it.
- the conversation starts with a user turn; string content is read as one text block.

`parse_messages_request` parses a body; its 400s name the field (`messages[0].content[1]`,
union tags left out). Checks across fields (a `tool_result` answering a `tool_use` of the
turn before, `tool_choice.name` naming a tool, the thinking budget below `max_tokens`) are
made by `anthropic_translate.anthropic_to_chat`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from .chat import MAX_MESSAGES, MAX_OUTPUT_TOKENS, normalize_stop
from .errors import invalid_request, parse_json_body, validation_error_to_api_error


class BlockType(StrEnum):
    """Anthropic content block types this API reads or writes."""

    TEXT = "text"
    IMAGE = "image"
    TOOL_USE = "tool_use"
    TOOL_RESULT = "tool_result"
    THINKING = "thinking"


class ThinkingType(StrEnum):
    """`thinking.type` values."""

    ENABLED = "enabled"
    ADAPTIVE = "adaptive"
    DISABLED = "disabled"


class ToolChoiceType(StrEnum):
    """`tool_choice.type` values."""

    AUTO = "auto"
    ANY = "any"
    TOOL = "tool"
    NONE = "none"


#: Anthropic's smallest thinking budget.
MIN_THINKING_BUDGET = 1024
MAX_TOOLS = 512

ToolName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
ToolId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
#: Accepted where Anthropic takes it; prompt caching is the backend's own business.
CacheControl = dict[str, Any] | None


class _Strict(BaseModel):
    """Strict types; an unknown key is a 400 naming it."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _as_blocks(value: Any) -> Any:
    """BeforeValidator: string content is one text block (same translation, one shape)."""
    return [{"type": BlockType.TEXT.value, "text": value}] if isinstance(value, str) else value


def _block_type(value: Any) -> Any:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


def _blocks(*tags: BlockType) -> Discriminator:
    """Tells block models apart by `type` (each tagged with its type); others are a 400."""
    supported = ", ".join(tags)
    return Discriminator(
        _block_type,
        custom_error_type="unsupported_block",
        custom_error_message=f"unsupported content block type (supported here: {supported})",
    )


class TextBlock(_Strict):
    """`{"type": "text", "text"}`; input citations are not supported."""

    type: Literal[BlockType.TEXT]
    text: str
    cache_control: CacheControl = None
    citations: None = None


class Base64Source(_Strict):
    """Inline image bytes."""

    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: Annotated[str, StringConstraints(min_length=1)]


class UrlSource(_Strict):
    """An image the backend fetches itself (https only)."""

    type: Literal["url"]
    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$", max_length=8192)]


class ImageBlock(_Strict):
    """`{"type": "image", "source": {...}}`."""

    type: Literal[BlockType.IMAGE]
    source: Annotated[Base64Source | UrlSource, Field(discriminator="type")]
    cache_control: CacheControl = None


class ToolUseBlock(_Strict):
    """A tool call the assistant made (history)."""

    type: Literal[BlockType.TOOL_USE]
    id: ToolId
    name: ToolName
    input: dict[str, Any]
    cache_control: CacheControl = None


_Text = Annotated["TextBlock", Tag(BlockType.TEXT)]
_Image = Annotated["ImageBlock", Tag(BlockType.IMAGE)]
ResultPart = Annotated[_Text | _Image, _blocks(BlockType.TEXT, BlockType.IMAGE)]


class ToolResultBlock(_Strict):
    """The result of a tool call, in the user turn after it."""

    type: Literal[BlockType.TOOL_RESULT]
    tool_use_id: ToolId
    content: Annotated[list[ResultPart], BeforeValidator(_as_blocks)] = []
    is_error: bool = False
    cache_control: CacheControl = None


class ThinkingBlock(_Strict):
    """Reasoning from an earlier assistant turn (its signature is not checked: none is made)."""

    type: Literal[BlockType.THINKING]
    thinking: str
    signature: str = ""


UserBlock = Annotated[
    _Text | _Image | Annotated[ToolResultBlock, Tag(BlockType.TOOL_RESULT)],
    _blocks(BlockType.TEXT, BlockType.IMAGE, BlockType.TOOL_RESULT),
]
AssistantBlock = Annotated[
    _Text
    | Annotated[ThinkingBlock, Tag(BlockType.THINKING)]
    | Annotated[ToolUseBlock, Tag(BlockType.TOOL_USE)],
    _blocks(BlockType.TEXT, BlockType.THINKING, BlockType.TOOL_USE),
]
SystemBlock = Annotated[_Text, _blocks(BlockType.TEXT)]


class UserMessage(_Strict):
    """A user turn."""

    role: Literal["user"]
    content: Annotated[list[UserBlock], Field(min_length=1), BeforeValidator(_as_blocks)]


class AssistantMessage(_Strict):
    """An assistant turn (history, or a final one to continue)."""

    role: Literal["assistant"]
    content: Annotated[list[AssistantBlock], BeforeValidator(_as_blocks)]


Message = Annotated[UserMessage | AssistantMessage, Field(discriminator="role")]


class Tool(_Strict):
    """A client tool (`type` absent or "custom"); server tools are not supported."""

    name: ToolName
    input_schema: dict[str, Any]
    description: str | None = None
    type: Literal["custom"] | None = None
    strict: bool | None = None
    cache_control: CacheControl = None

    @field_validator("input_schema")
    @classmethod
    def _object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "object":
            raise PydanticCustomError("input_schema", "input_schema must have type 'object'")
        return value


class ToolChoice(_Strict):
    """`tool_choice`: `name` only (and required) with type `tool`."""

    type: Annotated[ToolChoiceType, Field(strict=False)]
    name: ToolName | None = None
    disable_parallel_tool_use: bool = False

    @model_validator(mode="after")
    def _name_iff_tool(self) -> ToolChoice:
        if (self.type == ToolChoiceType.TOOL) != (self.name is not None):
            raise PydanticCustomError(
                "tool_choice_name", "'name' is required with type 'tool' and only with it"
            )
        return self


class Thinking(_Strict):
    """`thinking`: `budget_tokens` only (and required) with type `enabled`."""

    type: Annotated[ThinkingType, Field(strict=False)]
    budget_tokens: Annotated[int, Field(ge=MIN_THINKING_BUDGET)] | None = None
    display: Literal["summarized"] | None = None

    @model_validator(mode="after")
    def _budget_iff_enabled(self) -> Thinking:
        if (self.type == ThinkingType.ENABLED) != (self.budget_tokens is not None):
            raise PydanticCustomError(
                "thinking_budget",
                "'budget_tokens' is required with type 'enabled' and only with it",
            )
        return self


class Metadata(_Strict):
    """`metadata`: `user_id` is read (for logs) and never forwarded to a provider."""

    user_id: Annotated[str, StringConstraints(max_length=1024)] | None = None


class AnthropicMessagesRequest(_Strict):
    """Body of `POST /v1/messages` (see the module docstring for what each field does)."""

    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    max_tokens: Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
    messages: Annotated[list[Message], Field(min_length=1, max_length=MAX_MESSAGES - 1)]
    system: Annotated[list[SystemBlock] | None, BeforeValidator(_as_blocks)] = None
    stop_sequences: Annotated[list[str] | None, BeforeValidator(normalize_stop)] = None
    temperature: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    stream: bool = False
    metadata: Metadata | None = None
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    cache_control: CacheControl = None

    @field_validator("messages")
    @classmethod
    def _starts_with_user(cls, value: list[UserMessage | AssistantMessage]) -> list[Any]:
        if value[0].role != "user":
            raise PydanticCustomError(
                "first_message_role", "the first message must use the 'user' role"
            )
        return value

    @field_validator("tools")
    @classmethod
    def _unique_tool_names(cls, value: list[Tool] | None) -> list[Tool] | None:
        names = [tool.name for tool in value or ()]
        if len(set(names)) != len(names):
            raise PydanticCustomError("tool_names", "tool names must be unique")
        return value


class _JsonObject(BaseModel):
    """Any JSON object: `parse_json_body`'s checks, then our own validation."""

    model_config = ConfigDict(extra="allow")


#: Union tags pydantic puts in an error location, after a list index or `source`.
_TAGS = frozenset({"user", "assistant", "base64", "url", *BlockType})


def _untagged(exc: ValidationError) -> ValidationError:
    """The same errors with union tags left out of their locations (`messages[0].content`)."""
    details: list[InitErrorDetails] = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        kept = tuple(
            part
            for k, part in enumerate(loc)
            if not (
                part in _TAGS and k > 0 and (isinstance(loc[k - 1], int) or loc[k - 1] == "source")
            )
        )
        error = PydanticCustomError(err["type"], err["msg"])
        details.append({"type": error, "loc": kept, "input": err.get("input")})
    return ValidationError.from_exception_data(exc.title, details)


def parse_messages_request(
    raw: bytes | str, *, max_bytes: int | None = None
) -> AnthropicMessagesRequest:
    """Parse and validate a `/v1/messages` body; raises a 4xx `ApiError` naming the field."""
    body = parse_json_body(raw, _JsonObject, max_bytes=max_bytes)
    try:
        return AnthropicMessagesRequest.model_validate(body.model_extra or {})
    except ValidationError as exc:
        raise validation_error_to_api_error(_untagged(exc)) from None
    except RecursionError:
        raise invalid_request("The request body is nested too deeply.") from None
