"""Provider → coordinator frames and their union, `ProviderFrame`.

`chunk` and `chunk_batch` (the per-token path) have a hand-written encoder and fast decoder
in `chunk_codec.py`; these models stay the definition both must agree with.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, TypeAdapter, field_validator, model_validator

from .frame_base import (
    ErrorCode,
    Finite,
    Frame,
    HardwareValue,
    Id,
    InUse,
    LooseToken,
    ModelId,
    NonNegFinite,
    StopText,
    Text,
    UsageCount,
)
from .limits import (
    MAX_BATCH_CHUNKS,
    MAX_CHOICE_INDEX,
    MAX_COUNT,
    MAX_DELTA_CHARS,
    MAX_DELTAS,
    MAX_EMBEDDING_INPUTS,
    MAX_ID_CHARS,
    MAX_LOGPROB_TOKENS,
    MAX_MODELS,
    MAX_ROLE_CHARS,
    MAX_SLOTS,
    MAX_TOOL_CALL_INDEX,
    MAX_TOOL_NAME_CHARS,
    MAX_TOP_LOGPROBS,
)
from .vocabulary import Capability, Support

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]

# ----------------------------------------------------------------- pieces


SupportField = Annotated[Support, Field(strict=False)]  # the wire word, as a str or a Support


class ModelCapabilities(Frame):
    """What a provider model supports; a capability left out is `unknown` (routes like yes)."""

    tools: SupportField = Support.UNKNOWN
    vision: SupportField = Support.UNKNOWN
    json_schema: SupportField = Support.UNKNOWN
    reasoning: SupportField = Support.UNKNOWN
    completions: SupportField = Support.UNKNOWN
    embeddings: SupportField = Support.UNKNOWN

    def lacking(self) -> frozenset[Capability]:
        """The capabilities this model says it does not have."""
        return self._with(Support.NO)

    def having(self) -> frozenset[Capability]:
        """The capabilities this model says it has."""
        return self._with(Support.YES)

    def _with(self, support: Support) -> frozenset[Capability]:
        return frozenset(c for c in Capability if getattr(self, c.value) is support)


class ModelSpec(Frame):
    """One model a provider serves: concurrency limit, context length (tokens, prompt and
    output together), capabilities, and optional speed hints."""

    id: ModelId
    slots: Annotated[int, Field(ge=1, le=MAX_SLOTS)]
    context_length: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = None
    capabilities: ModelCapabilities | None = None
    prefill_tps: NonNegFinite | None = None
    decode_tps: NonNegFinite | None = None


class Attestation(Frame):
    """Attestation evidence of a declared kind (`none`, a hardware kind, ...)."""

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    evidence: Annotated[str, StringConstraints(max_length=256 * 1024)] = ""


class ProviderStatus(Frame):
    """The status a provider reports and signs in a challenge_response."""

    in_use: InUse = Field(default_factory=dict)
    load: NonNegFinite = 0.0


class TopLogprob(Frame):
    """One alternative token and its log probability."""

    token: str
    logprob: Finite
    bytes: Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(max_length=64)] | None = None


class TokenLogprob(TopLogprob):
    """A sampled token's log probability, with the most likely alternatives."""

    top_logprobs: Annotated[list[TopLogprob], Field(max_length=MAX_TOP_LOGPROBS)] | None = None


class Logprobs(Frame):
    """A choice chunk's `logprobs`: per token of content (or of a refusal)."""

    content: Annotated[list[TokenLogprob], Field(max_length=MAX_LOGPROB_TOKENS)] | None = None
    refusal: Annotated[list[TokenLogprob], Field(max_length=MAX_LOGPROB_TOKENS)] | None = None


class TextLogprobs(Frame):
    """A text completion's `logprobs` (the legacy shape), for the tokens of one chunk."""

    tokens: Annotated[list[str], Field(max_length=MAX_LOGPROB_TOKENS)]
    token_logprobs: Annotated[list[Finite | None], Field(max_length=MAX_LOGPROB_TOKENS)]
    top_logprobs: (
        Annotated[
            list[Annotated[dict[str, Finite], Field(max_length=MAX_TOP_LOGPROBS)] | None],
            Field(max_length=MAX_LOGPROB_TOKENS),
        ]
        | None
    ) = None
    text_offset: (
        Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=MAX_LOGPROB_TOKENS)] | None
    ) = None


class EmbeddingPiece(Frame):
    """One input's embedding: little-endian float32 values in base64 (compact and exact
    for what servers compute), `index` the input's position in the request."""

    index: Annotated[int, Field(ge=0, lt=MAX_EMBEDDING_INPUTS)]
    b64: Annotated[str, StringConstraints(max_length=MAX_DELTA_CHARS, pattern=r"^[A-Za-z0-9+/=]*$")]


class FunctionDelta(Frame):
    """A streamed tool call's function: the name (first), then pieces of the arguments."""

    name: Annotated[str, StringConstraints(max_length=MAX_TOOL_NAME_CHARS)] | None = None
    arguments: str | None = None


class ToolCallDelta(Frame):
    """One tool call in a chunk, as OpenAI streams it (`index` says which call)."""

    index: Annotated[int, Field(ge=0, le=MAX_TOOL_CALL_INDEX)]
    id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)] | None = None
    type: Literal["function"] | None = None
    function: FunctionDelta | None = None


class Delta(Frame):
    """The fields of one OpenAI chunk choice: content, reasoning, tool calls, logprobs...

    `{"content": ...}` (about one token) and `{"role": ...}` are the common shapes (the
    chunk codec decodes them by hand); `index` (default 0) names the choice when `n` > 1;
    `finish_reason` ends one choice. A text completion's text travels as `content`, its
    logprobs as `text_logprobs`; an embeddings request's answer as `embedding` pieces.
    """

    index: Annotated[int, Field(ge=0, le=MAX_CHOICE_INDEX)] | None = None
    role: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ROLE_CHARS)] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    tool_calls: Annotated[list[ToolCallDelta], Field(max_length=MAX_TOOL_CALL_INDEX + 1)] | None = (
        None
    )
    logprobs: Logprobs | None = None
    text_logprobs: TextLogprobs | None = None
    embedding: EmbeddingPiece | None = None
    finish_reason: FinishReason | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Delta:
        fields = self.model_fields_set - {"index"}
        if not any(getattr(self, name) is not None for name in fields):
            raise ValueError("a delta needs a field besides its index")
        return self


class CompletionDetails(Frame):
    """`completion_tokens_details`: the reasoning tokens among the completion tokens."""

    reasoning_tokens: UsageCount | None = None


class PromptDetails(Frame):
    """`prompt_tokens_details`: the prompt tokens served from the upstream's cache."""

    cached_tokens: UsageCount | None = None


class Usage(Frame):
    """Token counts of a finished request (each at most MAX_USAGE_TOKENS)."""

    prompt_tokens: UsageCount
    completion_tokens: UsageCount
    completion_tokens_details: CompletionDetails | None = None
    prompt_tokens_details: PromptDetails | None = None


# ----------------------------------------------------------------- frames


class RegisterFrame(Frame):
    """First frame on a socket: who the provider is and what it serves."""

    type: Literal["register"] = "register"
    protocol_version: Annotated[int, Field(ge=1, le=1_000_000)]
    agent_version: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    public_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]
    attestation: Attestation
    models: Annotated[list[ModelSpec], Field(min_length=1, max_length=MAX_MODELS)]
    hardware: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], HardwareValue],
        Field(max_length=64),
    ] = Field(default_factory=dict)

    @field_validator("public_key")
    @classmethod
    def _raw_key_is_32_bytes(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("public_key is not valid base64") from exc
        if len(raw) != 32:
            raise ValueError("public_key must encode 32 raw bytes")
        return value

    @field_validator("models")
    @classmethod
    def _unique_model_ids(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        if len({m.id for m in value}) != len(value):
            raise ValueError("model ids must be unique")
        return value


class UpstreamReport(Frame):
    """The agent's view of its inference server; unhealthy means: route nothing here."""

    healthy: bool
    reason: Text | None = None


class HeartbeatFrame(Frame):
    """Periodic liveness and load report; also sent at once when `upstream` changes.

    `upstream` absent means "not reported" (treated as healthy).
    """

    type: Literal["heartbeat"] = "heartbeat"
    in_use: InUse = Field(default_factory=dict)
    load: NonNegFinite = 0.0
    upstream: UpstreamReport | None = None


class ChallengeResponseFrame(Frame):
    """Answer to a challenge: the signature over (nonce, provider id, status digest)."""

    type: Literal["challenge_response"] = "challenge_response"
    nonce: LooseToken
    signature: LooseToken
    status: ProviderStatus


class ChunkItem(Frame):
    """One or more stream deltas of a request (the body of a `chunk` frame)."""

    request_id: Id
    deltas: Annotated[list[Delta], Field(min_length=1, max_length=MAX_DELTAS)]


class ChunkFrame(ChunkItem):
    """One or more stream deltas of a request."""

    type: Literal["chunk"] = "chunk"


class ChunkBatchFrame(Frame):
    """Deltas of several requests in one frame, in order; sent when several are ready.

    One WebSocket frame per token per request is what a relay cannot afford at high
    concurrency, so the agent packs whatever its requests produced within a short window.
    """

    type: Literal["chunk_batch"] = "chunk_batch"
    chunks: Annotated[list[ChunkItem], Field(min_length=1, max_length=MAX_BATCH_CHUNKS)]


class CompleteFrame(Frame):
    """The end of a successful request."""

    type: Literal["complete"] = "complete"
    request_id: Id
    usage: Usage
    finish_reason: FinishReason
    #: Which of the request's stop sequences ended the output, when the backend says so.
    stop_sequence: StopText | None = None


class ErrorFrame(Frame):
    """The end of a failed request; `retryable` tells the coordinator it may try elsewhere.

    `status` is the upstream's HTTP status when the upstream refused the request itself
    (a 4xx: context too long, bad schema, bad image): the consumer gets that status and
    `message`, and no other provider is tried.
    """

    type: Literal["error"] = "error"
    request_id: Id
    code: ErrorCode
    message: Text
    retryable: bool
    status: Annotated[int, Field(ge=400, le=499)] | None = None


ProviderFrame = Annotated[
    RegisterFrame
    | HeartbeatFrame
    | ChallengeResponseFrame
    | ChunkFrame
    | ChunkBatchFrame
    | CompleteFrame
    | ErrorFrame,
    Field(discriminator="type"),
]

PROVIDER_FRAME_ADAPTER: TypeAdapter[ProviderFrame] = TypeAdapter(ProviderFrame)
