"""Coordinator → provider frames and their union, `CoordinatorFrame`.

An `inference_request` carries the consumer's request as an OpenAI-shaped body (`request`,
a JSON object: see `openai_api.wire_chat_request`); `kind` says which API the body is for
(`RequestKind`: a chat-completions body, a completions body, an embeddings body, or a chat
body whose prompt is only to be counted). The agent passes the body to its backend as it
is, and the backend sends it to the upstream's route for that kind.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from .frame_base import Frame, Id, ModelId, NonceHex, NonNegFinite, PosFinite, Text
from .vocabulary import RequestKind, Trust

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
    kind: Annotated[RequestKind, Field(strict=False)] = RequestKind.CHAT


class InferenceRequestFrame(InferenceEnvelope):
    """Work for the provider; `deadline` is unix epoch seconds."""

    request: dict[str, Any]


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
