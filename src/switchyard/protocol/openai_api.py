"""OpenAI-compatible request models and their translation to the wire's normalized chat.

`ChatCompletionRequest` (`POST /v1/chat/completions`) and `CompletionRequest`
(`POST /v1/completions`) are strict pydantic models (no `"1"` for 1, no `"true"` for true)
that ignore fields they do not know (tools, penalties, logit_bias, response_format, ...).
`null` is accepted wherever OpenAI's schema marks a parameter nullable.
Supported: text content (a string or a list of `{"type": "text"}` parts, joined with "\\n"),
roles system/developer/user/assistant/tool (developer is sent as system), `n` = 1 only.

`chat_to_normalized` / `completion_to_normalized` produce `frames.ChatRequestBody`. A legacy
completion prompt becomes one user message: providers speak chat only, so the model answers
the prompt through its chat template rather than continuing raw text.
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
    model_validator,
)
from pydantic_core import PydanticCustomError

from .chat import (
    MAX_MESSAGES,
    MAX_OUTPUT_TOKENS,
    SEED_MAX,
    SEED_MIN,
    flatten_text_parts,
    normalize_stop,
)
from .frames import ChatMessage, ChatRequestBody

#: OpenAI's documented default for /v1/completions.
DEFAULT_COMPLETION_MAX_TOKENS = 16

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MaxTokens = Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
TopP = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)]
Stop = Annotated[list[str] | None, BeforeValidator(normalize_stop)]
User = Annotated[str, StringConstraints(max_length=1024)]


def _none_is_false(value: Any) -> Any:
    return False if value is None else value


Flag = Annotated[bool, BeforeValidator(_none_is_false)]


class _Request(BaseModel):
    """Common config: strict types, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class StreamOptions(_Request):
    """`stream_options`: only `include_usage` is honoured."""

    include_usage: Flag = False


class ChatMessageIn(_Request):
    """One input message; `content` may be null only for assistant turns."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str | None, BeforeValidator(flatten_text_parts)] = None

    @model_validator(mode="after")
    def _content_required(self) -> ChatMessageIn:
        if self.content is None and self.role != "assistant":
            raise PydanticCustomError(
                "content_required", "'content' is required for role '{role}'", {"role": self.role}
            )
        return self


def _only_one(value: int | None) -> int | None:
    if value is not None and value != 1:
        raise PydanticCustomError("unsupported", "only 1 is supported")
    return value


class _Common(_Request):
    """Behaviour shared by both endpoints (fields are declared per endpoint, in body order)."""

    @field_validator("n", check_fields=False)
    @classmethod
    def _check_n(cls, value: int | None) -> int | None:
        return _only_one(value)

    @property
    def include_usage(self) -> bool:
        """True when a streamed response must end with a usage chunk."""
        stream: bool = getattr(self, "stream", False)
        options: StreamOptions | None = getattr(self, "stream_options", None)
        return stream and options is not None and options.include_usage


class ChatCompletionRequest(_Common):
    """Body of `POST /v1/chat/completions`."""

    model: ModelName
    messages: list[ChatMessageIn]
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stop: Stop = None
    stream: Flag = False
    stream_options: StreamOptions | None = None
    seed: Seed | None = None
    n: int | None = None
    user: User | None = None

    @field_validator("messages")
    @classmethod
    def _messages_bounds(cls, value: list[ChatMessageIn]) -> list[ChatMessageIn]:
        if not value:
            raise PydanticCustomError("empty_messages", "at least one message is required")
        if len(value) > MAX_MESSAGES:
            raise PydanticCustomError(
                "too_many_messages", "at most {limit} messages are allowed", {"limit": MAX_MESSAGES}
            )
        return value

    @property
    def requested_max_tokens(self) -> int | None:
        """`max_completion_tokens` if given (the current name), else `max_tokens`."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens


def _single_prompt(value: Any) -> Any:
    """BeforeValidator: a one-element list of strings becomes its string."""
    if not isinstance(value, list):
        return value
    if len(value) == 1 and isinstance(value[0], str):
        return value[0]
    if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise PydanticCustomError("unsupported", "token-id prompts are not supported")
    raise PydanticCustomError(
        "unsupported", "prompt must be a string or a list of exactly one string"
    )


class CompletionRequest(_Common):
    """Body of `POST /v1/completions` (the legacy text-completion endpoint)."""

    model: ModelName
    prompt: Annotated[str, BeforeValidator(_single_prompt)]
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stop: Stop = None
    stream: Flag = False
    stream_options: StreamOptions | None = None
    seed: Seed | None = None
    n: int | None = None
    user: User | None = None
    echo: Flag = False
    best_of: int | None = None

    @field_validator("best_of")
    @classmethod
    def _check_best_of(cls, value: int | None) -> int | None:
        return _only_one(value)

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool) -> bool:
        if value:
            raise PydanticCustomError("unsupported", "echo is not supported")
        return value


def chat_to_normalized(
    req: ChatCompletionRequest, *, default_max_tokens: int | None = None
) -> ChatRequestBody:
    """The wire body for a chat request; `default_max_tokens` applies when none was asked
    (None: none is sent; the coordinator decides against the model's context length)."""
    messages = [
        ChatMessage(
            role="system" if m.role == "developer" else m.role,
            content=m.content if m.content is not None else "",
        )
        for m in req.messages
    ]
    max_tokens = req.requested_max_tokens
    return ChatRequestBody(
        messages=messages,
        max_tokens=max_tokens if max_tokens is not None else default_max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        stop=req.stop,
        seed=req.seed,
    )


def completion_to_normalized(req: CompletionRequest) -> ChatRequestBody:
    """The wire body for a legacy completion: the prompt as a single user message."""
    return ChatRequestBody(
        messages=[ChatMessage(role="user", content=req.prompt)],
        max_tokens=req.max_tokens if req.max_tokens is not None else DEFAULT_COMPLETION_MAX_TOKENS,
        temperature=req.temperature,
        top_p=req.top_p,
        stop=req.stop,
        seed=req.seed,
    )
