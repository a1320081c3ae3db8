"""Every provider wire frame: parsing, dumping, and the models' one import point.

The models live by direction, `provider_frames.py` (provider → coordinator) and
`coordinator_frames.py` (coordinator → provider), on the base and field types of
`frame_base.py`; this module re-exports them all, so `from switchyard.protocol.frames
import X` works for any frame name. Size limits (in bytes, see `limits.py`) differ by
direction: a coordinator frame may carry a consumer's whole prompt, a provider frame only
tokens and reports. The body of an `inference_request` is serialized once
(`dump_request_body`) and its frame built around that text (`dump_inference_request`), so
measuring it costs no second serialization. `chunk` and `chunk_batch` frames, the
per-token path, have their own encoder and fast decoder in `chunk_codec.py`.
Strings that a peer may get wrong in a way that is a *trust* question rather than a *syntax*
question (the nonce and signature in a challenge_response) are only length-bounded: a bad
one is a failed challenge, not a protocol error.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from .codes import CloseCode, FrameError
from .coordinator_frames import (
    COORDINATOR_FRAME_ADAPTER,
    CancelFrame,
    ChallengeFrame,
    CoordinatorFrame,
    DrainFrame,
    InferenceEnvelope,
    InferenceRequestFrame,
    ProtocolErrorFrame,
    RegisteredFrame,
    ResyncFrame,
)
from .frame_base import Frame
from .limits import (
    MAX_BATCH_CHUNKS,
    MAX_COORDINATOR_FRAME_BYTES,
    MAX_COUNT,
    MAX_MESSAGE_CHARS,
    MAX_MODELS,
    MAX_PROVIDER_FRAME_BYTES,
    MAX_SLOTS,
    MAX_TOKENS_LIMIT,
    MAX_USAGE_TOKENS,
    PROTOCOL_VERSION,
)
from .provider_frames import (
    PROVIDER_FRAME_ADAPTER,
    Attestation,
    ChallengeResponseFrame,
    ChunkBatchFrame,
    ChunkFrame,
    ChunkItem,
    CompleteFrame,
    Delta,
    ErrorFrame,
    HeartbeatFrame,
    ModelCapabilities,
    ModelSpec,
    ProviderFrame,
    ProviderStatus,
    RegisterFrame,
    Usage,
)
from .vocabulary import RequestKind

__all__ = [
    "COORDINATOR_FRAME_ADAPTER",
    "MAX_BATCH_CHUNKS",
    "MAX_COUNT",
    "MAX_MODELS",
    "MAX_SLOTS",
    "MAX_TOKENS_LIMIT",
    "MAX_USAGE_TOKENS",
    "PROTOCOL_VERSION",
    "PROVIDER_FRAME_ADAPTER",
    "Attestation",
    "CancelFrame",
    "ChallengeFrame",
    "ChallengeResponseFrame",
    "ChunkBatchFrame",
    "ChunkFrame",
    "ChunkItem",
    "CompleteFrame",
    "CoordinatorFrame",
    "Delta",
    "DrainFrame",
    "ErrorFrame",
    "Frame",
    "HeartbeatFrame",
    "InferenceEnvelope",
    "InferenceRequestFrame",
    "ModelCapabilities",
    "ModelSpec",
    "ProtocolErrorFrame",
    "ProviderFrame",
    "ProviderStatus",
    "RegisterFrame",
    "RegisteredFrame",
    "ResyncFrame",
    "Usage",
    "dump_frame",
    "dump_inference_request",
    "dump_request_body",
    "frame_too_large",
    "parse_coordinator_frame",
    "parse_provider_frame",
]

T = TypeVar("T")

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
    return FrameError(CloseCode.VALIDATION_FAILED, "; ".join(parts)[:MAX_MESSAGE_CHARS])


def _parse(adapter: TypeAdapter[T], text: str | bytes, limit: int) -> T:
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


def dump_request_body(body: dict[str, Any]) -> bytes:
    """A request body's wire JSON as UTF-8: its length is what it adds to a frame.

    Serialize a body once with this, check its size, and build each attempt's frame around
    the text with `dump_inference_request`. The body comes from parsed JSON, so it holds
    no NaN and (once validated) no lone surrogate.
    """
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def dump_inference_request(
    request_id: str,
    model: str,
    body_json: str,
    deadline: float,
    kind: RequestKind = RequestKind.CHAT,
) -> str:
    """The wire text of an `inference_request` around an already serialized body.

    The envelope is validated like any frame; it adds at most `INFERENCE_ENVELOPE_BYTES`.
    """
    envelope = InferenceEnvelope(request_id=request_id, model=model, deadline=deadline, kind=kind)
    return f'{dump_frame(envelope)[:-1]},"request":{body_json}}}'
