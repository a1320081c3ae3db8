"""Pydantic models for every provider wire frame, the two unions, parsing and dumping.

Frames are strict (no type coercion, e.g. `"1"` is not an int and `true` is not a number),
reject unknown fields, reject NaN/Infinity, and bound every string and list, so that a
hostile or buggy peer can only ever produce a `FrameError`, never an exception elsewhere.
Size limits (in bytes, see `limits.py`) differ by direction: a coordinator frame may carry
a consumer's whole prompt, a provider frame only tokens and reports. The body of an
`inference_request` is serialized once (`dump_request_body`) and its frame built around
that text (`dump_inference_request`), so measuring it costs no second serialization.
Strings that a peer may get wrong in a way that is a *trust* question rather than a *syntax*
question (the nonce and signature in a challenge_response) are only length-bounded: a bad
one is a failed challenge, not a protocol error.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from .codes import CloseCode, FrameError
from .limits import MAX_COORDINATOR_FRAME_BYTES, MAX_PROVIDER_FRAME_BYTES
from .vocabulary import Trust

PROTOCOL_VERSION = 1
MAX_MODELS = 64
MAX_SLOTS = 1024
MAX_TOKENS_LIMIT = 1_000_000
MAX_COUNT = 2**53
#: Most tokens a usage report may claim: what a usage row holds (storage.validate.MAX_TOKENS),
#: so a report the coordinator accepts can always be recorded.
MAX_USAGE_TOKENS = 10**12
MAX_BATCH_CHUNKS = 4096

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4096)]
ErrorCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]
NonceHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
LooseToken = Annotated[str, StringConstraints(max_length=256)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegFinite = Annotated[float, Field(allow_inf_nan=False, ge=0)]
PosFinite = Annotated[float, Field(allow_inf_nan=False, gt=0)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
UsageCount = Annotated[int, Field(ge=0, le=MAX_USAGE_TOKENS)]
InUse = Annotated[
    dict[ModelId, Annotated[int, Field(ge=0, le=MAX_SLOTS)]], Field(max_length=MAX_MODELS)
]
HardwareValue = Annotated[str, StringConstraints(max_length=1024)] | int | Finite


class Frame(BaseModel):
    """Base of every wire model: strict, immutable, unknown fields rejected."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# ----------------------------------------------------------------- shared pieces


class ModelSpec(Frame):
    """One model a provider serves, with its concurrency limit and optional speed hints."""

    id: ModelId
    slots: Annotated[int, Field(ge=1, le=MAX_SLOTS)]
    context_length: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = None
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

    role: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
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


class ChatMessage(Frame):
    """One message of a normalized chat request."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ChatRequestBody(Frame):
    """The normalized chat request the coordinator sends to a provider."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=10_000)]
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT)]
    temperature: Annotated[float, Field(allow_inf_nan=False, ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)] | None = None
    stop: (
        Annotated[
            list[Annotated[str, StringConstraints(min_length=1, max_length=1024)]],
            Field(max_length=32),
        ]
        | None
    ) = None
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None


# ----------------------------------------------------------------- provider -> coordinator


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
    deltas: Annotated[list[ChunkDelta], Field(min_length=1, max_length=65_536)]


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
    stop_sequence: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None


class ErrorFrame(Frame):
    """The end of a failed request; `retryable` tells the coordinator it may try elsewhere."""

    type: Literal["error"] = "error"
    request_id: Id
    code: ErrorCode
    message: Text
    retryable: bool


# ----------------------------------------------------------------- coordinator -> provider


class RegisteredFrame(Frame):
    """Registration accepted: the provider's id, trust level and timers."""

    type: Literal["registered"] = "registered"
    provider_id: Id
    trust: Annotated[Trust, Field(strict=False)]  # the wire name, as a str or a Trust
    challenge_interval_s: PosFinite
    heartbeat_interval_s: PosFinite


class ChallengeFrame(Frame):
    """A fresh nonce to sign before `deadline` (unix epoch seconds)."""

    type: Literal["challenge"] = "challenge"
    nonce: NonceHex
    deadline: NonNegFinite


class InferenceEnvelope(Frame):
    """An `inference_request` without its body (see `dump_inference_request`)."""

    type: Literal["inference_request"] = "inference_request"
    request_id: Id
    model: ModelId
    deadline: NonNegFinite


class InferenceRequestFrame(InferenceEnvelope):
    """Work for the provider; `deadline` is unix epoch seconds."""

    request: ChatRequestBody


class CancelFrame(Frame):
    """Stop generating a request and send nothing more for it."""

    type: Literal["cancel"] = "cancel"
    request_id: Id


class DrainFrame(Frame):
    """Finish in-flight work, accept no more, then close."""

    type: Literal["drain"] = "drain"


class ResyncFrame(Frame):
    """The coordinator's actor restarted: abandon all in-flight work and send a heartbeat."""

    type: Literal["resync"] = "resync"


class ProtocolErrorFrame(Frame):
    """Sent just before the coordinator closes the socket with `code`."""

    type: Literal["protocol_error"] = "protocol_error"
    code: Annotated[int, Field(ge=1000, le=4999)]
    message: Text


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
CoordinatorFrame = Annotated[
    RegisteredFrame
    | ChallengeFrame
    | InferenceRequestFrame
    | CancelFrame
    | DrainFrame
    | ResyncFrame
    | ProtocolErrorFrame,
    Field(discriminator="type"),
]

PROVIDER_FRAME_ADAPTER: TypeAdapter[ProviderFrame] = TypeAdapter(ProviderFrame)
COORDINATOR_FRAME_ADAPTER: TypeAdapter[CoordinatorFrame] = TypeAdapter(CoordinatorFrame)


# ----------------------------------------------------------------- parse / dump


def frame_too_large(limit: int) -> FrameError:
    """The error for a frame over `limit` bytes (close code 4005)."""
    return FrameError(CloseCode.FRAME_TOO_LARGE, f"frame exceeds {limit} bytes")


def _frame_bytes(text: str | bytes, limit: int) -> bytes:
    """Encode and size-check (in UTF-8 bytes) a raw frame, raising FrameError."""
    if len(text) > limit:  # a character is at least one byte: too large for sure
        raise frame_too_large(limit)
    if isinstance(text, bytes):
        data = text
    else:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FrameError(CloseCode.INVALID_JSON, "frame is not valid UTF-8 text") from exc
    if len(data) > limit:
        raise frame_too_large(limit)
    return data


def _describe(exc: ValidationError) -> FrameError:
    """Map a pydantic error onto a close code and a short, input-free message."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]["type"] if errors else ""
    if first == "json_invalid":
        return FrameError(CloseCode.INVALID_JSON, "frame is not valid JSON")
    if first in ("dict_type", "model_type") and errors[0]["loc"] == ():
        return FrameError(CloseCode.INVALID_JSON, "frame is not a JSON object")
    if first == "union_tag_not_found":
        return FrameError(CloseCode.UNKNOWN_TYPE, "frame has no 'type' field")
    if first == "union_tag_invalid":
        return FrameError(CloseCode.UNKNOWN_TYPE, "frame has an unknown 'type'")
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err["loc"][1:]) or "<frame>"
        parts.append(f"{loc}: {err['msg']}")
    if len(errors) > 5:
        parts.append(f"... {len(errors) - 5} more")
    return FrameError(CloseCode.VALIDATION_FAILED, "; ".join(parts)[:4096])


def _parse(adapter: TypeAdapter[Any], text: str | bytes, limit: int) -> Any:
    data = _frame_bytes(text, limit)
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        raise _describe(exc) from None
    except (ValueError, RecursionError) as exc:
        raise FrameError(CloseCode.INVALID_JSON, "frame is not valid JSON") from exc


def parse_provider_frame(text: str | bytes) -> ProviderFrame:
    """Parse a provider→coordinator frame; raises FrameError (never anything else)."""
    return _parse(PROVIDER_FRAME_ADAPTER, text, MAX_PROVIDER_FRAME_BYTES)


def parse_coordinator_frame(text: str | bytes) -> CoordinatorFrame:
    """Parse a coordinator→provider frame; raises FrameError (never anything else)."""
    return _parse(COORDINATOR_FRAME_ADAPTER, text, MAX_COORDINATOR_FRAME_BYTES)


def dump_frame(frame: Frame) -> str:
    """Serialize a frame to its wire text (fields that are None are omitted)."""
    return frame.model_dump_json(exclude_none=True)


def dump_request_body(body: ChatRequestBody) -> bytes:
    """A request body's wire JSON as UTF-8: its length is what it adds to a frame.

    Serialize a body once with this, check its size, and build each attempt's frame around
    the text with `dump_inference_request`.
    """
    return body.__pydantic_serializer__.to_json(body, exclude_none=True)


def dump_inference_request(request_id: str, model: str, body_json: str, deadline: float) -> str:
    """The wire text of an `inference_request` around an already serialized body.

    The envelope is validated like any frame; it adds at most `INFERENCE_ENVELOPE_BYTES`.
    """
    envelope = InferenceEnvelope(request_id=request_id, model=model, deadline=deadline)
    return f'{dump_frame(envelope)[:-1]},"request":{body_json}}}'
