"""`ResponsesRequest`: the body of `POST /v1/responses` (OpenAI Responses API), validated.

What the coordinator can carry to a chat-completions provider is accepted; everything else
is a 400 naming the field, never dropped (the model has `extra="forbid"`, and the fields
below that exist in OpenAI's API but have no chat counterpart refuse any value other than
their default). A field sent as `null` is its default.

Accepted: `model`, `input` (a string or a list of items, checked item by item in
`responses_translate.py`), `instructions`, `tools` (flat function tools), `tool_choice`,
`parallel_tool_calls`, `text.format` (text, json_object, json_schema), `reasoning`
(`effort`; `summary` accepted with no effect: reasoning comes back as `reasoning_text`
content, never summarized), `max_output_tokens`, `temperature`, `top_p`, `stream`,
`stream_options.include_obfuscation` (no effect: no obfuscation is added), `store`,
`previous_response_id`, `metadata` (echoed and stored, never sent to a provider), `user`
and `safety_identifier` (never sent to a provider), `truncation: "disabled"`,
`service_tier` `auto`/`default`, `include: []`.

Refused: `background`, `conversation`, `prompt`, `max_tool_calls`, `top_logprobs`,
`prompt_cache_key`, `prompt_cache_retention`, a non-empty `include`, `truncation: "auto"`,
`text.verbosity`, built-in tools (web_search, file_search, computer_use, code_interpreter,
image_generation, mcp, custom ...), and any field OpenAI does not define.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .chat import MAX_OUTPUT_TOKENS
from .chat_request import MAX_TOOLS, Flag, ModelName, Short, Temperature, ToolName, TopP

#: Most items of one `input` (as for chat `messages`).
MAX_INPUT_ITEMS = 10_000
#: OpenAI's bounds on `metadata`: 16 pairs, keys of 64 characters, values of 512.
MAX_METADATA_PAIRS = 16
ResponseId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Forbid(BaseModel):
    """Strict types, unknown fields refused (the 400 names them)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class FunctionTool(_Forbid):
    """A flat Responses function tool: `{"type": "function", "name", "parameters", ...}`."""

    type: Literal["function"]
    name: ToolName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedFunctionChoice(_Forbid):
    """`tool_choice: {"type": "function", "name": ...}`."""

    type: Literal["function"]
    name: ToolName


class TextFormat(_Forbid):
    """`text.format`: text, json_object, or json_schema (name and schema inline)."""

    type: Literal["text", "json_object", "json_schema"]
    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_present(self) -> TextFormat:
        if self.type == "json_schema" and (self.name is None or self.schema_ is None):
            raise PydanticCustomError(
                "json_schema_missing", "type json_schema needs a 'name' and a 'schema' object"
            )
        if self.type != "json_schema" and (self.name or self.schema_ is not None):
            raise PydanticCustomError(
                "json_schema_extra", "'name' and 'schema' belong to type json_schema only"
            )
        return self


class TextConfig(_Forbid):
    """`text`: only `format` (`verbosity` has no chat counterpart)."""

    format: TextFormat | None = None


class ReasoningConfig(_Forbid):
    """`reasoning`: `effort` is sent as chat `reasoning_effort`; `summary` has no effect."""

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class StreamOptions(_Forbid):
    """`stream_options`: `include_obfuscation` is accepted (nothing is obfuscated)."""

    include_obfuscation: bool | None = None


def _function_tool(value: Any) -> Any:
    """BeforeValidator: a tool that is not a function tool is a 400 saying so."""
    kind = value.get("type") if isinstance(value, dict) else None
    if kind != "function":
        raise PydanticCustomError(
            "unsupported_tool",
            "type {kind} is not supported (only function tools are; built-in tools such as "
            "web_search or file_search are not)",
            {"kind": repr(kind)[:80]},
        )
    return value


def _input(value: Any) -> Any:
    """BeforeValidator: a string, or a list of 1..MAX_INPUT_ITEMS items (checked later)."""
    if isinstance(value, list) and 1 <= len(value) <= MAX_INPUT_ITEMS:
        return value
    if isinstance(value, str):
        return value
    raise PydanticCustomError(
        "input",
        "expected a string or a list of 1 to {limit} items",
        {"limit": MAX_INPUT_ITEMS},
    )


def _no_include(value: Any) -> Any:
    if value:
        raise PydanticCustomError("unsupported", "'include' is not supported (send [] or omit)")
    return value


Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(max_length=64)],
        Annotated[str, StringConstraints(max_length=512)],
    ],
    Field(max_length=MAX_METADATA_PAIRS),
]


class ResponsesRequest(_Forbid):
    """Body of `POST /v1/responses` (see the module docstring)."""

    model: ModelName
    input: Annotated[str | list[Any], BeforeValidator(_input)]
    instructions: str | None = None
    tools: (
        Annotated[
            list[Annotated[FunctionTool, BeforeValidator(_function_tool)]],
            Field(max_length=MAX_TOOLS),
        ]
        | None
    ) = None
    tool_choice: Literal["none", "auto", "required"] | NamedFunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)] | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stream: Flag = False
    stream_options: StreamOptions | None = None
    store: bool = True
    previous_response_id: ResponseId | None = None
    metadata: Metadata | None = None
    user: Short | None = None
    safety_identifier: Short | None = None
    truncation: Literal["disabled"] | None = None
    service_tier: Literal["auto", "default"] | None = None
    include: Annotated[list[Any] | None, BeforeValidator(_no_include)] = None

    # Defined by OpenAI, no chat counterpart: anything but the default is a 400 (`_UNSUPPORTED`).
    background: Any = None
    conversation: Any = None
    prompt: Any = None
    max_tool_calls: Any = None
    top_logprobs: Any = None
    prompt_cache_key: Any = None
    prompt_cache_retention: Any = None

    @field_validator(
        "background", "conversation", "prompt", "max_tool_calls", "top_logprobs",
        "prompt_cache_key", "prompt_cache_retention", mode="before",
    )  # fmt: skip
    @classmethod
    def _refuse(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not False:
            raise PydanticCustomError(
                "unsupported", "it is not supported: {why}", {"why": _UNSUPPORTED[info.field_name]}
            )
        return value

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(cls, value: Any, info: ValidationInfo) -> Any:
        names = {tool.name for tool in info.data.get("tools") or ()}
        if isinstance(value, NamedFunctionChoice) and value.name not in names:
            raise PydanticCustomError(
                "tool_choice", "it names a function that 'tools' does not declare"
            )
        if value == "required" and not names:
            raise PydanticCustomError("tool_choice", "'required' needs 'tools'")
        return value


_UNSUPPORTED: dict[str | None, str] = {
    "background": "responses run in the foreground only",
    "conversation": "conversation objects are not kept (use previous_response_id)",
    "prompt": "stored prompt templates are not kept",
    "max_tool_calls": "built-in tools are not supported",
    "top_logprobs": "log probabilities are not returned by /v1/responses",
    "prompt_cache_key": "providers cache prompt prefixes on their own",
    "prompt_cache_retention": "providers cache prompt prefixes on their own",
}
