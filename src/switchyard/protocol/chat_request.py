"""`ChatRequestBody`: an OpenAI chat-completions body, validated only where the coordinator must.

The coordinator forwards a consumer's chat body to the provider whole (`wire_chat_request`
in `openai_api.py` builds the wire copy); this model checks what the coordinator owns or
must refuse, and lets every other field through untouched (`extra="allow"`):

- `messages`: roles system/developer/user/assistant/tool; content a string or a list of
  parts of type text or image_url (an `https:` or `data:image/...` URL), plus refusal
  parts in assistant turns (the parts are in `chat_parts.py`); assistant `tool_calls`; a
  tool message's `tool_call_id`. Audio, file and any other part type is a 400.
- `tools` (type function, a name of `^[a-zA-Z0-9_-]{1,64}$`, parameters an object),
  `tool_choice` (none/auto/required or a function that `tools` names), `response_format`
  (text, json_object, or json_schema with a schema object);
- `n` 1..8, `max_tokens`/`max_completion_tokens`, `stop`, `logprobs`, `top_logprobs`
  0..20, the sampling numbers OpenAI documents with their ranges, `seed`, `logit_bias`.

Fields are strict (no `"1"` for 1); `null` is accepted where OpenAI's schema allows it
(and dropped from the wire copy: null means "the default"). A bad value is a 400 naming
the field (`messages[2].tool_calls[0].function.name`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .chat import MAX_MESSAGES, MAX_OUTPUT_TOKENS, SEED_MAX, SEED_MIN, normalize_stop
from .chat_parts import AssistantContent, TextContent, UserContent, _Strict

#: Most choices (`n`) one request may ask for.
MAX_CHOICES = 8
#: Most `top_logprobs` (OpenAI's own bound).
MAX_TOP_LOGPROBS = 20
#: Most tools one request may declare, and tool calls one assistant turn may carry.
MAX_TOOLS = 128
MAX_TOOL_CALLS = 128

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MaxTokens = Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
ToolName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
Stop = Annotated[list[str] | None, BeforeValidator(normalize_stop)]
Short = Annotated[str, StringConstraints(max_length=1024)]


def _none_is_false(value: Any) -> Any:
    return False if value is None else value


Flag = Annotated[bool, BeforeValidator(_none_is_false)]


def _range(lo: float, hi: float) -> Any:
    return Annotated[float, Field(ge=lo, le=hi, allow_inf_nan=False)]


if TYPE_CHECKING:  # what the validators below produce, as mypy can read it
    Temperature: TypeAlias = float
    TopP: TypeAlias = float
    Penalty: TypeAlias = float
    Bias: TypeAlias = float
else:
    Temperature = _range(0, 2)
    TopP = _range(0, 1)
    Penalty = _range(-2, 2)
    Bias = _range(-100, 100)


class StreamOptions(_Strict):
    """`stream_options`: `include_usage` is honoured."""

    include_usage: Flag = False


# ----------------------------------------------------------------- messages


class FunctionCall(_Strict):
    """The function of an assistant tool call: its name and JSON arguments (a string)."""

    name: ToolName
    arguments: str


class ToolCall(_Strict):
    """One tool call of an assistant turn."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    type: Literal["function"]
    function: FunctionCall


class SystemMessage(_Strict):
    """`system` or `developer` (a developer turn is sent to providers as system)."""

    role: Literal["system", "developer"]
    content: TextContent
    name: Short | None = None


class UserMessage(_Strict):
    """A user turn: text and images."""

    role: Literal["user"]
    content: UserContent
    name: Short | None = None


class AssistantMessage(_Strict):
    """An assistant turn: content, a refusal, and/or tool calls."""

    role: Literal["assistant"]
    content: AssistantContent | None = None
    refusal: str | None = None
    tool_calls: Annotated[list[ToolCall], Field(max_length=MAX_TOOL_CALLS)] | None = None
    name: Short | None = None


class ToolMessage(_Strict):
    """The result of a tool call: `tool_call_id` names the call it answers."""

    role: Literal["tool"]
    content: TextContent
    tool_call_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _known_role(value: Any) -> Any:
    """BeforeValidator: an unknown or missing role is a clear 400, not a union dump."""
    if not isinstance(value, dict):
        raise PydanticCustomError("message_type", "a message must be an object")
    if value.get("role") not in _ROLES:
        raise PydanticCustomError(
            "message_role",
            "role must be one of system, developer, user, assistant, tool (got {role})",
            {"role": repr(value.get("role"))},
        )
    return value


_ROLES = ("system", "developer", "user", "assistant", "tool")


def _role_tag(value: Any) -> str:
    role = value.get("role") if isinstance(value, dict) else None
    return "role:system" if role == "developer" else f"role:{role}"


Message = Annotated[
    Annotated[
        Annotated[SystemMessage, Tag("role:system")]
        | Annotated[UserMessage, Tag("role:user")]
        | Annotated[AssistantMessage, Tag("role:assistant")]
        | Annotated[ToolMessage, Tag("role:tool")],
        Discriminator(_role_tag),
    ],
    BeforeValidator(_known_role),
]


# ----------------------------------------------------------------- tools and formats


class FunctionDef(_Strict):
    """A tool's function: name, description and JSON-schema parameters (an object)."""

    name: ToolName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Strict):
    """`{"type": "function", "function": {...}}`."""

    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Strict):
    """The function a `tool_choice` object names."""

    name: ToolName


class NamedToolChoice(_Strict):
    """`{"type": "function", "function": {"name": ...}}`."""

    type: Literal["function"]
    function: NamedFunction


class JsonSchema(_Strict):
    """`response_format.json_schema`: a name and the schema (an object)."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(_Strict):
    """`response_format`: text, json_object, or json_schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise PydanticCustomError(
                "json_schema_missing", "type json_schema needs a 'json_schema' object"
            )
        return self


LogitBias = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")], Bias],
    Field(max_length=1024),
]


# ----------------------------------------------------------------- the body


class ChatRequestBody(_Strict):
    """Body of `POST /v1/chat/completions` (see the module docstring)."""

    model: ModelName
    messages: list[Message]
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    n: Annotated[int, Field(ge=1, le=MAX_CHOICES)] | None = None
    stop: Stop = None
    stream: Flag = False
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    seed: Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)] | None = None
    logit_bias: LogitBias | None = None
    logprobs: Flag = False
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    user: Short | None = None

    @field_validator("messages")
    @classmethod
    def _messages_bounds(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise PydanticCustomError("empty_messages", "at least one message is required")
        if len(value) > MAX_MESSAGES:
            raise PydanticCustomError(
                "too_many_messages", "at most {limit} messages are allowed", {"limit": MAX_MESSAGES}
            )
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _needs_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value and not info.data.get("logprobs"):
            raise PydanticCustomError("top_logprobs", "top_logprobs needs logprobs: true")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _declared_tool(cls, value: Any, info: ValidationInfo) -> Any:
        tools: list[Tool] = info.data.get("tools") or []
        if isinstance(value, NamedToolChoice):
            if value.function.name not in {t.function.name for t in tools}:
                raise PydanticCustomError(
                    "tool_choice", "it names a function that 'tools' does not declare"
                )
        elif value == "required" and not tools:
            raise PydanticCustomError("tool_choice", "'required' needs 'tools'")
        return value

    @property
    def requested_max_tokens(self) -> int | None:
        """`max_completion_tokens` if given (the current name), else `max_tokens`."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens

    @property
    def choices(self) -> int:
        """How many choices (`n`) the answer has."""
        return self.n or 1

    @property
    def include_usage(self) -> bool:
        """True when a streamed response must end with a usage chunk."""
        options = self.stream_options
        return self.stream and options is not None and options.include_usage
