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
from .limits import MAX_BATCH_CHUNKS, MAX_COUNT, MAX_DELTAS, MAX_MODELS, MAX_ROLE_CHARS, MAX_SLOTS
from .vocabulary import Capability, Support

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


class ChunkDelta(Frame):
    """An OpenAI-style delta: `{"content": ...}` (about one token) or `{"role": ...}`."""

    role: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ROLE_CHARS)] | None = None
    content: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ChunkDelta:
        if self.role is None and self.content is None:
            raise ValueError("a delta needs a role or content")
        return self


class Usage(Frame):
    """Token counts of a finished request (each at most MAX_USAGE_TOKENS)."""

    prompt_tokens: UsageCount
    completion_tokens: UsageCount


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


class HeartbeatFrame(Frame):
    """Periodic liveness and load report."""

    type: Literal["heartbeat"] = "heartbeat"
    in_use: InUse = Field(default_factory=dict)
    load: NonNegFinite = 0.0


class ChallengeResponseFrame(Frame):
    """Answer to a challenge: the signature over (nonce, provider id, status digest)."""

    type: Literal["challenge_response"] = "challenge_response"
    nonce: LooseToken
    signature: LooseToken
    status: ProviderStatus


class ChunkItem(Frame):
    """One or more stream deltas of a request (the body of a `chunk` frame)."""

    request_id: Id
    deltas: Annotated[list[ChunkDelta], Field(min_length=1, max_length=MAX_DELTAS)]


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
    finish_reason: Literal["stop", "length", "content_filter", "tool_calls"]
    #: Which of the request's stop sequences ended the output, when the backend says so.
    stop_sequence: StopText | None = None


class ErrorFrame(Frame):
    """The end of a failed request; `retryable` tells the coordinator it may try elsewhere."""

    type: Literal["error"] = "error"
    request_id: Id
    code: ErrorCode
    message: Text
    retryable: bool


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
