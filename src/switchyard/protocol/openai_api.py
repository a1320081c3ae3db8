"""OpenAI request models and the chat-completions body the wire carries to a provider.

`ChatRequestBody` (`chat_request.py`) validates `POST /v1/chat/completions`;
`wire_chat_request` builds what the `inference_request` frame carries from the consumer's
own JSON object: every field the coordinator does not own, untouched, with

- `model` the public model id (the agent maps it to its upstream's name);
- `stream: true` and `stream_options: {"include_usage": true}` always (the coordinator
  builds a non-streamed answer from the deltas, and bills from the upstream's usage);
- `max_tokens` as the consumer asked (`max_completion_tokens` folded into it), or left
  out: the model's own limit applies (`context_length.attempt_body` may add the hold);
- `stop` normalized (empty strings dropped), as the coordinator enforces it too;
- `user` removed (privacy: providers never see who asks), `null` fields removed (null is
  the default), and `developer` turns sent as `system` (few chat templates know it).

`CompletionRequest` (`POST /v1/completions`) is a strict text-only model (fields it
cannot carry are 400s, `n` = 1); `completion_wire_request` sends its prompt as one user
message, with its sampling fields:
providers speak chat only, so the model answers the prompt through its chat template
rather than continuing raw text.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .chat import MAX_OUTPUT_TOKENS, SEED_MAX, SEED_MIN, normalize_stop
from .chat_request import (
    ChatRequestBody,
    Flag,
    LogitBias,
    ModelName,
    Penalty,
    Short,
    StreamOptions,
    Temperature,
    TopP,
)

#: OpenAI's documented default for /v1/completions.
DEFAULT_COMPLETION_MAX_TOKENS = 16
#: Top-level fields of a chat body the coordinator sets itself (or removes).
OWNED_FIELDS = frozenset(
    {"model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "user", "stop"}
)

MaxTokens = Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
Seed = Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)]
Stop = Annotated[list[str] | None, BeforeValidator(normalize_stop)]


def wire_chat_request(
    data: dict[str, Any], req: ChatRequestBody, max_tokens: int | None
) -> dict[str, Any]:
    """The wire body for a validated chat request (`data` is the consumer's JSON object);
    `max_tokens` None leaves it out (the model's own limit applies)."""
    wire = {k: v for k, v in data.items() if k not in OWNED_FIELDS and v is not None}
    wire["model"] = req.model
    wire["messages"] = [
        {**m, "role": "system"} if m.get("role") == "developer" else m for m in data["messages"]
    ]
    if max_tokens is not None:
        wire["max_tokens"] = max_tokens
    if req.stop:
        wire["stop"] = req.stop
    return stream_wire(wire)


def stream_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """Ask the provider for a stream with a final usage report (every wire body does)."""
    wire["stream"] = True
    wire["stream_options"] = {"include_usage": True}
    return wire


def _only_one(value: int | None) -> int | None:
    if value is not None and value != 1:
        raise PydanticCustomError("unsupported", "only 1 is supported")
    return value


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


class CompletionRequest(BaseModel):
    """Body of `POST /v1/completions` (the legacy text-completion endpoint).

    Fields it cannot carry yet (`suffix`, `logprobs`, `best_of` > 1 ...) are 400s naming
    them, never dropped; a field sent as null is its default and passes."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    model: ModelName
    prompt: Annotated[str, BeforeValidator(_single_prompt)]
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stop: Stop = None
    stream: Flag = False
    stream_options: StreamOptions | None = None
    seed: Seed | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: LogitBias | None = None
    n: int | None = None
    user: Short | None = None
    echo: Flag = False
    best_of: int | None = None

    @field_validator("n", "best_of")
    @classmethod
    def _check_one(cls, value: int | None) -> int | None:
        return _only_one(value)

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool) -> bool:
        if value:
            raise PydanticCustomError("unsupported", "echo is not supported")
        return value

    @property
    def include_usage(self) -> bool:
        """True when a streamed response must end with a usage chunk."""
        options = self.stream_options
        return self.stream and options is not None and options.include_usage


def completion_wire_request(req: CompletionRequest) -> dict[str, Any]:
    """The wire body for a legacy completion: the prompt as a single user message."""
    wire: dict[str, Any] = {
        "model": req.model,
        "messages": [{"role": "user", "content": req.prompt}],
        "max_tokens": req.max_tokens or DEFAULT_COMPLETION_MAX_TOKENS,
    }
    for name in (
        "temperature", "top_p", "stop", "seed", "frequency_penalty", "presence_penalty",
        "logit_bias",
    ):  # fmt: skip
        value = getattr(req, name)
        if value is not None:
            wire[name] = value
    return stream_wire(wire)
