"""The base of every wire frame model and the constrained field types they share.

Frames are strict (no type coercion, e.g. `"1"` is not an int and `true` is not a number),
reject unknown fields, reject NaN/Infinity, and bound every string and list with the
numbers in `limits.py`, so that a hostile or buggy peer can only ever produce a
`FrameError`, never an exception elsewhere.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .limits import (
    MAX_ERROR_CODE_CHARS,
    MAX_ID_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_MODEL_ID_CHARS,
    MAX_MODELS,
    MAX_SLOTS,
    MAX_STOP_CHARS,
    MAX_USAGE_TOKENS,
)

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MODEL_ID_CHARS)]
Text = Annotated[str, StringConstraints(max_length=MAX_MESSAGE_CHARS)]
ErrorCode = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ERROR_CODE_CHARS)]
StopText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STOP_CHARS)]
NonceHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
LooseToken = Annotated[str, StringConstraints(max_length=256)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegFinite = Annotated[float, Field(allow_inf_nan=False, ge=0)]
PosFinite = Annotated[float, Field(allow_inf_nan=False, gt=0)]
UsageCount = Annotated[int, Field(ge=0, le=MAX_USAGE_TOKENS)]
InUse = Annotated[
    dict[ModelId, Annotated[int, Field(ge=0, le=MAX_SLOTS)]], Field(max_length=MAX_MODELS)
]
HardwareValue = Annotated[str, StringConstraints(max_length=1024)] | int | Finite


class Frame(BaseModel):
    """Base of every wire model: strict, immutable, unknown fields rejected."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
