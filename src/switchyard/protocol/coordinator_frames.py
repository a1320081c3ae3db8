"""Coordinator → provider frames, the chat request body, and their union, `CoordinatorFrame`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from .frame_base import Frame, Id, ModelId, NonceHex, NonNegFinite, PosFinite, StopText, Text
from .limits import MAX_TOKENS_LIMIT
from .vocabulary import Trust


class ChatMessage(Frame):
    """One message of a normalized chat request."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ChatRequestBody(Frame):
    """The normalized chat request the coordinator sends to a provider."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=10_000)]
    #: None (left out on the wire): the model's own limit applies.
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT)] | None = None
    temperature: Annotated[float, Field(allow_inf_nan=False, ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)] | None = None
    stop: (
        Annotated[
            list[StopText],
            Field(max_length=32),
        ]
        | None
    ) = None
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None


# ----------------------------------------------------------------- frames


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


COORDINATOR_FRAME_ADAPTER: TypeAdapter[CoordinatorFrame] = TypeAdapter(CoordinatorFrame)
