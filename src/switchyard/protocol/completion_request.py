"""`POST /v1/completions`: the native text-completions body and the wire body built from it.

`CompletionRequest` checks what the coordinator must (it bills, holds and folds the
choices): `prompt` is a string, a list of strings, a token array or a list of token
arrays (non-empty, ids ≥ 0); `n` and `best_of` within 1..`MAX_COMPLETION_CHOICES` with
`best_of` ≥ `n`, and prompts times the larger of them within `MAX_COMPLETION_CHOICES` (each
answer choice carries its index on the wire); `logprobs` 0..`MAX_COMPLETION_LOGPROBS`;
`suffix` a string; `echo` a boolean; sampling numbers in OpenAI's ranges. Anything else
(vLLM's `top_k`, `min_p`, `repetition_penalty`...) passes through untouched.

`completion_wire_request` is the consumer's own object for the upstream's
`/v1/completions`: every field but `user` (providers never see who asks) and nulls, with
`max_tokens` always set (OpenAI's default, 16, when absent: it is also what is held),
`stop` normalized, and a stream with usage (the coordinator builds a non-streamed answer
from the deltas and bills from the upstream's usage).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from .chat import SEED_MAX, SEED_MIN
from .chat_parts import _Strict
from .chat_request import (
    Flag,
    LogitBias,
    MaxTokens,
    ModelName,
    Penalty,
    Short,
    Stop,
    StreamOptions,
    Temperature,
    TopP,
)
from .limits import MAX_COMPLETION_CHOICES, MAX_TOKEN_ID
from .openai_api import stream_wire

#: OpenAI's documented default `max_tokens` for /v1/completions.
DEFAULT_COMPLETION_MAX_TOKENS = 16
#: The most `logprobs` (alternatives per token) a completion may ask for.
MAX_COMPLETION_LOGPROBS = 20
#: Fields of a completions body the coordinator sets itself (or removes).
OWNED_FIELDS = frozenset({"model", "stream", "stream_options", "max_tokens", "user", "stop"})

Choices = Annotated[int, Field(ge=1, le=MAX_COMPLETION_CHOICES)]
_PROMPT_FORMS = (
    "prompt must be a string, a list of strings, a non-empty list of token ids (integers "
    "from 0) or a list of such lists"
)


def _prompts(value: Any) -> list[Any]:
    """The prompts a `prompt` holds (a string or one token array is one prompt)."""
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    return value if isinstance(value, list) else [value]


def _token_ids(value: Any) -> bool:
    return bool(value) and all(type(v) is int and 0 <= v <= MAX_TOKEN_ID for v in value)


def _check_prompt(value: Any) -> Any:
    """BeforeValidator: a string, strings, a token array or token arrays (non-empty)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise PydanticCustomError("prompt", _PROMPT_FORMS)
    if len(_prompts(value)) > MAX_COMPLETION_CHOICES:
        raise PydanticCustomError(
            "too_many_prompts", "at most {limit} prompts", {"limit": MAX_COMPLETION_CHOICES}
        )
    if all(isinstance(v, str) for v in value) or _token_ids(value):
        return value
    if all(isinstance(v, list) and _token_ids(v) for v in value):
        return value
    raise PydanticCustomError("prompt", _PROMPT_FORMS)


class CompletionRequest(_Strict):
    """Body of `POST /v1/completions` (see the module docstring)."""

    model: ModelName
    prompt: Annotated[Any, BeforeValidator(_check_prompt)]
    suffix: str | None = None
    echo: Flag = False
    logprobs: Annotated[int, Field(ge=0, le=MAX_COMPLETION_LOGPROBS)] | None = None
    best_of: Choices | None = None
    n: Choices | None = None
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stop: Stop = None
    stream: Flag = False
    stream_options: StreamOptions | None = None
    seed: Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)] | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: LogitBias | None = None
    user: Short | None = None

    @model_validator(mode="after")
    def _choices_fit(self) -> CompletionRequest:
        n, best_of = self.n or 1, self.best_of or 1
        if self.best_of is not None and best_of < n:
            raise PydanticCustomError("best_of", "best_of must be at least n")
        if len(_prompts(self.prompt)) * max(n, best_of) > MAX_COMPLETION_CHOICES:
            raise PydanticCustomError(
                "too_many_choices",
                "prompts times max(n, best_of) must be at most {limit}",
                {"limit": MAX_COMPLETION_CHOICES},
            )
        return self

    @property
    def choices(self) -> int:
        """How many choices the answer has: one per prompt and sample (`n`)."""
        return len(_prompts(self.prompt)) * (self.n or 1)

    @property
    def include_usage(self) -> bool:
        """True when a streamed response must end with a usage chunk."""
        options = self.stream_options
        return self.stream and options is not None and options.include_usage

    def prompt_tokens_estimate(self) -> int:
        """≈4 characters a token of text (prompt and suffix), one per token id."""
        total = 2 + len(self.suffix or "") // 4
        for prompt in _prompts(self.prompt):
            total += 2 + (len(prompt) // 4 if isinstance(prompt, str) else len(prompt))
        return total


def completion_wire_request(data: dict[str, Any], req: CompletionRequest) -> dict[str, Any]:
    """The wire body for a validated completions request (`data`: the consumer's object)."""
    wire = {k: v for k, v in data.items() if k not in OWNED_FIELDS and v is not None}
    wire["model"] = req.model
    wire["max_tokens"] = req.max_tokens or DEFAULT_COMPLETION_MAX_TOKENS
    if req.stop:
        wire["stop"] = req.stop
    return stream_wire(wire)


__all__ = [
    "DEFAULT_COMPLETION_MAX_TOKENS",
    "CompletionRequest",
    "completion_wire_request",
]
