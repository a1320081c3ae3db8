"""The per-token path's wire codec: `chunk` and `chunk_batch` frames, encoded and decoded by hand.

Every token crosses the provider socket, so in the common case neither side goes through
pydantic: the agent builds frame text from templates (`ChunkPacker`), and the coordinator
checks the common shapes by hand (`decode_provider_frame`). The models in
`provider_frames.py` stay the definition: the encoder only writes frames they accept, and
the decoder accepts and refuses exactly what they do; whatever it is not sure of falls
through to pydantic, which has the final word (property tests hold both to this). The
fast decoder knows only the per-token shapes `{"content": str}` and `{"role": str}`;
every other delta (an index, reasoning, tool calls, logprobs, a finish reason) is
pydantic's `Delta` to judge. All bounds come from `limits.py`.

Encoded text is ASCII (other characters become `\\uXXXX` escapes), so its `len()` is the
number of bytes sent: frames are sized on the text that goes out, never by a second dump.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from json import JSONDecoder, JSONEncoder
from json.encoder import encode_basestring_ascii
from typing import Any

from .frames import ChunkBatchFrame, ChunkFrame, ChunkItem, frame_too_large, parse_provider_frame
from .limits import (
    CHUNK_FRAME_BUDGET_BYTES,
    MAX_BATCH_CHUNKS,
    MAX_DELTAS,
    MAX_ID_CHARS,
    MAX_PROVIDER_FRAME_BYTES,
    MAX_ROLE_CHARS,
)
from .provider_frames import ProviderFrame

#: The role of every stream the agent sends (its first delta).
ASSISTANT_ROLE = "assistant"
#: Room a frame needs around one item's deltas: the `chunk_batch` head, the item's keys and
#: its request id with every character escaped, and the closing brackets.
ITEM_OVERHEAD_BYTES = 1024
#: The longest encoded deltas one `ChunkPacker.add` may take: alone in a frame, they fit.
MAX_ADD_BYTES = MAX_PROVIDER_FRAME_BYTES - ITEM_OVERHEAD_BYTES


# ----------------------------------------------------------------- decoded form


@dataclass(slots=True)
class ChunkIn:
    """A decoded `chunk` frame (or `chunk_batch` item): deltas of one request, as dicts."""

    request_id: str
    deltas: list[dict[str, Any]]


@dataclass(slots=True)
class ChunkBatchIn:
    """A decoded `chunk_batch` frame: deltas of several requests, in order."""

    chunks: list[ChunkIn]


# ----------------------------------------------------------------- encoder (agent)


def stream_deltas(content: str, first: bool) -> list[dict[str, Any]]:
    """The deltas that carry `content`; a request's first ones open with the role delta."""
    if first:
        return [{"role": ASSISTANT_ROLE}, {"content": content}]
    return [{"content": content}]


#: Nested delta values (tool calls, logprobs) and numbers: ASCII JSON, no NaN.
_encode_value = JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode_deltas(deltas: list[dict[str, Any]]) -> str:
    """Deltas as the inside of a `deltas` JSON array: ASCII, so `len()` is its byte size.

    String values (content, role: the per-token case) are quoted directly; anything else
    (an index, tool calls, logprobs) goes through the JSON encoder.
    """
    esc, enc = encode_basestring_ascii, _encode_value
    return ",".join(
        [
            "{"
            + ",".join(
                [esc(k) + ":" + (esc(v) if type(v) is str else enc(v)) for k, v in d.items()]
            )
            + "}"
            for d in deltas
        ]
    )


class _Item:
    """One request's encoded deltas, waiting to go into a frame."""

    __slots__ = ("count", "parts", "request_id", "size")

    def __init__(self, request_id: str, text: str, count: int) -> None:
        self.request_id = request_id
        self.parts = [text]
        self.size = len(text)
        self.count = count

    def encode(self) -> str:
        head = '{"request_id":' + encode_basestring_ascii(self.request_id) + ',"deltas":['
        return head + ",".join(self.parts) + "]}"


class ChunkPacker:
    """Packs stream deltas of many requests into few `chunk` / `chunk_batch` frame texts.

    `add` encodes deltas once and merges them into the request's latest item while that
    stays within `budget` bytes (and `MAX_DELTAS`); `frames` packs the items, in order,
    into frames of at most `budget` bytes (an item larger than that goes alone) and at
    most `MAX_BATCH_CHUNKS` items, and starts over. One request's deltas stay in order.
    """

    def __init__(self, budget: int = CHUNK_FRAME_BUDGET_BYTES) -> None:
        self.budget = budget
        self._items: list[_Item] = []
        self._latest: dict[str, _Item] = {}

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(self, request_id: str, deltas: list[dict[str, Any]]) -> None:
        """Queue deltas of one request; their encoding must be at most `MAX_ADD_BYTES`."""
        text = encode_deltas(deltas)
        if len(text) > MAX_ADD_BYTES:
            raise ValueError(f"deltas of {len(text)} bytes do not fit one frame")
        item = self._latest.get(request_id)
        if (
            item is not None
            and item.size + 1 + len(text) <= self.budget
            and item.count + len(deltas) <= MAX_DELTAS
        ):
            item.parts.append(text)
            item.size += 1 + len(text)
            item.count += len(deltas)
            return
        item = _Item(request_id, text, len(deltas))
        self._latest[request_id] = item
        self._items.append(item)

    def frames(self) -> list[str]:
        """The frame texts of everything added since the last call, in order."""
        frames: list[str] = []
        parts: list[str] = []
        size = 0
        for item in self._items:
            part = item.encode()
            if parts and (size + len(part) > self.budget or len(parts) >= MAX_BATCH_CHUNKS):
                frames.append(_frame(parts))
                parts, size = [], 0
            parts.append(part)
            size += len(part) + 1
        if parts:
            frames.append(_frame(parts))
        self._items, self._latest = [], {}
        return frames


def _frame(items: list[str]) -> str:
    if len(items) == 1:
        return '{"type":"chunk",' + items[0][1:]
    return '{"type":"chunk_batch","chunks":[' + ",".join(items) + "]}"


# ----------------------------------------------------------------- decoder (coordinator)

#: One JSON value at an index (what `json.loads` runs, minus its whitespace handling).
_scan: Callable[[str, int], tuple[Any, int]] = JSONDecoder().scan_once  # type: ignore[attr-defined]
#: Characters a text may have and still be at most MAX_PROVIDER_FRAME_BYTES in UTF-8 for sure.
_SURELY_FITS = MAX_PROVIDER_FRAME_BYTES // 4


def decode_provider_frame(text: str | bytes) -> ChunkIn | ChunkBatchIn | ProviderFrame:
    """A provider frame as the provider actor takes it; raises FrameError on anything bad.

    `chunk` and `chunk_batch` frames become `ChunkIn` / `ChunkBatchIn` (by hand when they
    have the common shape), every other frame its pydantic model.
    """
    if len(text) > MAX_PROVIDER_FRAME_BYTES:
        raise frame_too_large(MAX_PROVIDER_FRAME_BYTES)
    if (
        type(text) is str
        and text.startswith('{"type":"chunk')
        and (text.isascii() or len(text) <= _SURELY_FITS)  # else only pydantic counts bytes
        and "\\ud" not in text  # maybe a lone surrogate, which only pydantic refuses right
        and "\\uD" not in text
    ):
        chunk = _fast_chunks(text)
        if chunk is not None:
            return chunk
    frame = parse_provider_frame(text)
    if isinstance(frame, ChunkFrame):
        return _chunk_in(frame)
    if isinstance(frame, ChunkBatchFrame):
        return ChunkBatchIn([_chunk_in(item) for item in frame.chunks])
    return frame


def _chunk_in(item: ChunkItem) -> ChunkIn:
    return ChunkIn(item.request_id, [d.model_dump(exclude_none=True) for d in item.deltas])


def _fast_chunks(text: str) -> ChunkIn | ChunkBatchIn | None:
    """The common chunk shapes checked by hand; None means "let pydantic judge it"."""
    try:
        obj, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return None
    if end != len(text) or type(obj) is not dict:
        return None
    kind = obj.get("type")
    if kind == "chunk" and len(obj) == 3:
        return _fast_item(obj.get("request_id"), obj.get("deltas"))
    if kind != "chunk_batch" or len(obj) != 2:
        return None
    items = obj.get("chunks")
    if type(items) is not list or not 0 < len(items) <= MAX_BATCH_CHUNKS:
        return None
    chunks = []
    for item in items:
        if type(item) is not dict or len(item) != 2:
            return None
        chunk = _fast_item(item.get("request_id"), item.get("deltas"))
        if chunk is None:
            return None
        chunks.append(chunk)
    return ChunkBatchIn(chunks)


def _fast_item(request_id: Any, deltas: Any) -> ChunkIn | None:
    if type(request_id) is not str or not 0 < len(request_id) <= MAX_ID_CHARS:
        return None
    if type(deltas) is not list or not 0 < len(deltas) <= MAX_DELTAS:
        return None
    for delta in deltas:
        if type(delta) is not dict or len(delta) != 1:
            return None
        content = delta.get("content")
        if type(content) is not str:
            role = delta.get("role")
            if type(role) is not str or not 0 < len(role) <= MAX_ROLE_CHARS:
                return None
    return ChunkIn(request_id, deltas)
