"""`POST /v1/embeddings`: the request, the wire body, and the answer folded from deltas.

`EmbeddingRequest` checks what the coordinator owns: `input` is a non-empty string, a
list of them, a token array or a list of token arrays (at most `MAX_EMBEDDING_INPUTS`
inputs), `dimensions` 1..`MAX_EMBEDDING_DIMENSIONS`, `encoding_format` `float` or
`base64` (the answer's format: the coordinator renders it). Anything else (vLLM's
`truncate_prompt_tokens`...) passes through. `embedding_wire_request` is the consumer's
object without `user` and `encoding_format` (the agent always asks its upstream for
floats and sends each embedding as float32 in base64, one `embedding` delta per input).

The hold must cover the charge (it is clamped to the hold), so `prompt_tokens_bound` is
an upper bound, not an estimate: a text input has at most one token per UTF-8 byte, a
token array its ids, each plus the special tokens a server may add.

`EmbeddingFold` gathers the pieces by input index (a retried attempt overwrites, never
duplicates), bounded by `MAX_EMBEDDING_OUTPUT_CHARS`, and renders OpenAI's list.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from .chat_parts import _Strict
from .chat_request import ModelName, Short
from .errors import provider_failed
from .limits import (
    MAX_EMBEDDING_DIMENSIONS,
    MAX_EMBEDDING_INPUTS,
    MAX_EMBEDDING_OUTPUT_CHARS,
    MAX_TOKEN_ID,
)

#: Vectors rendered per part of an answer (see `EmbeddingFold.render`).
RENDER_PART = 32
#: Fields of an embeddings body the coordinator owns.
OWNED_FIELDS = frozenset({"model", "user", "encoding_format"})
#: Special tokens a tokenizer may add to one input (BOS, EOS, a separator...).
SPECIAL_TOKENS_PER_INPUT = 4
_INPUT_FORMS = (
    "input must be a non-empty string, a list of them, a non-empty list of token ids "
    "(integers from 0) or a list of such lists"
)


def embedding_inputs(value: Any) -> list[Any]:
    """The inputs an `input` holds (a string or one token array is one input)."""
    if isinstance(value, list) and value and all(type(v) is int for v in value):
        return [value]
    return value if isinstance(value, list) else [value]


def _token_ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(type(v) is int and 0 <= v <= MAX_TOKEN_ID for v in value)
    )


def _check_input(value: Any) -> Any:
    """BeforeValidator: see the module docstring."""
    if isinstance(value, str) and value:
        return value
    if not isinstance(value, list) or not value:
        raise PydanticCustomError("input", _INPUT_FORMS)
    inputs = embedding_inputs(value)
    if len(inputs) > MAX_EMBEDDING_INPUTS:
        raise PydanticCustomError(
            "too_many_inputs", "at most {limit} inputs", {"limit": MAX_EMBEDDING_INPUTS}
        )
    if all(isinstance(v, str) and v for v in inputs) or all(_token_ids(v) for v in inputs):
        return value
    raise PydanticCustomError("input", _INPUT_FORMS)


class EmbeddingRequest(_Strict):
    """Body of `POST /v1/embeddings` (see the module docstring)."""

    model: ModelName
    input: Annotated[Any, BeforeValidator(_check_input)]
    dimensions: Annotated[int, Field(ge=1, le=MAX_EMBEDDING_DIMENSIONS)] | None = None
    encoding_format: Literal["float", "base64"] | None = None
    user: Short | None = None

    @property
    def inputs(self) -> int:
        """How many embeddings the answer holds."""
        return len(embedding_inputs(self.input))

    def prompt_tokens_bound(self) -> int:
        """The most prompt tokens the inputs can be (see the module docstring)."""
        total = 0
        for item in embedding_inputs(self.input):
            size = (
                len(item.encode("utf-8", "surrogatepass")) if isinstance(item, str) else len(item)
            )
            total += size + SPECIAL_TOKENS_PER_INPUT
        return total


def embedding_wire_request(data: Mapping[str, Any], req: EmbeddingRequest) -> dict[str, Any]:
    """The wire body (see the module docstring)."""
    wire = {k: v for k, v in data.items() if k not in OWNED_FIELDS and v is not None}
    wire["model"] = req.model
    return wire


class EmbeddingFold:
    """One request's embeddings, gathered from `embedding` deltas (see the module doc)."""

    def __init__(self, inputs: int) -> None:
        self.inputs = inputs
        self.pieces: dict[int, str] = {}
        self.chars = 0

    def add(self, deltas: Iterable[Mapping[str, Any]]) -> None:
        """Fold deltas (others are ignored); ApiError 502 past the output bound."""
        for delta in deltas:
            piece = delta.get("embedding")
            if not isinstance(piece, Mapping):
                continue
            index, b64 = piece.get("index"), piece.get("b64")
            if type(index) is not int or not 0 <= index < self.inputs or not isinstance(b64, str):
                continue
            self.chars += len(b64) - len(self.pieces.get(index, ""))
            if self.chars > MAX_EMBEDDING_OUTPUT_CHARS:
                raise provider_failed(
                    f"The provider's embeddings exceed {MAX_EMBEDDING_OUTPUT_CHARS} base64 "
                    "characters."
                )
            self.pieces[index] = b64

    def end(self) -> None:
        """The answer is whole: ApiError 502 unless every input has its embedding."""
        if len(self.pieces) != self.inputs:
            raise provider_failed(
                f"The provider answered {len(self.pieces)} embeddings for {self.inputs} inputs."
            )

    def body(self, model: str, encoding: str, prompt_tokens: int) -> dict[str, Any]:
        """OpenAI's embeddings list, each vector as floats or base64 (`encoding`)."""
        rendered = b"".join(self.render(model, encoding, prompt_tokens))
        body: dict[str, Any] = json.loads(rendered)
        return body

    def render(
        self, model: str, encoding: str, prompt_tokens: int, per_part: int = RENDER_PART
    ) -> Iterator[bytes]:
        """The same list as JSON bytes, `per_part` vectors a part, so that writing a large
        answer (millions of floats take about a second to format) never holds the event
        loop for long: the route awaits between parts."""
        yield b'{"object":"list","data":['
        for start in range(0, self.inputs, per_part):
            items = []
            for index in range(start, min(start + per_part, self.inputs)):
                b64 = self.pieces[index]
                value = _quote(b64) if encoding == "base64" else _floats_json(b64)
                items.append(f'{{"object":"embedding","index":{index},"embedding":{value}}}')
            yield (("," if start else "") + ",".join(items)).encode()
        usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        tail = json.dumps({"model": model, "usage": usage}, separators=(",", ":"))
        yield b"]," + tail[1:].encode()


def _floats_json(b64: str) -> str:
    return json.dumps(floats_of(b64), separators=(",", ":"))


def floats_of(b64: str) -> list[float]:
    """The float32 values of a base64 embedding."""
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))


__all__ = [
    "EmbeddingFold",
    "EmbeddingRequest",
    "embedding_inputs",
    "embedding_wire_request",
    "floats_of",
]
