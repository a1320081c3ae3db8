"""What replicas say to each other about providers: capacity snapshots and remote streams.

Everything is JSON. What arrives from another replica is validated here before it is
used: a capacity snapshot and a dispatch request by strict pydantic models (bounded
lists, ids and counts, `protocol/limits.py`), stream batches by hand on the hot path (the
owner already validated every delta it relays, so only the envelope is checked).

Subjects (each under the cluster's namespace, `Transport.subject`):
- `capacity.<replica>`           snapshots of the replica's providers (`Snapshot`)
- `route.<replica>.dispatch`     request/reply: run a request on one of its providers
                                 (its body inline, or in the `bodies` object store when
                                 too large for one message: `crossing_bodies.py`)
- `route.<replica>.cancel`       the consumer left: stop that request
- `stream.<origin>.<request_id>` the request's stream items, in batches, in order
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..actors.provider_messages import StreamChunk, StreamEnd
from ..actors.scheduler_messages import ModelCapacity, Reserve
from ..actors.scheduler_remote import OfferedModel, OfferedProvider
from ..protocol.frame_base import Id, ModelId, NonNegFinite, PosFinite
from ..protocol.limits import (
    MAX_CLUSTER_PROVIDERS,
    MAX_CLUSTER_REPLICAS,
    MAX_MODELS,
    MAX_REQUEST_BODY_JSON_BYTES,
    MAX_SLOTS,
    MAX_TOKENS_LIMIT,
    MAX_USAGE_TOKENS,
)
from ..protocol.vocabulary import Capability, RequestKind, Trust

Count = Annotated[int, Field(ge=0, le=MAX_SLOTS)]


class WireError(ValueError):
    """A message from another replica that does not parse (it is dropped and counted)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WireModel(_Strict):
    slots: Count
    in_use: Count
    by_origin: dict[Id, Count] = Field(default_factory=dict, max_length=MAX_CLUSTER_REPLICAS)
    prefill_tps: PosFinite
    decode_tps: PosFinite
    context_length: Annotated[int, Field(ge=1, le=MAX_USAGE_TOKENS)] | None = None
    lacking: frozenset[Capability] = frozenset()
    able: frozenset[Capability] = frozenset()


class WireProvider(_Strict):
    id: Id
    trust: Trust
    routable: bool
    models: dict[ModelId, WireModel] = Field(max_length=MAX_MODELS)


class Snapshot(_Strict):
    """All providers of `replica` (instance `epoch`), its `seq`-th publication."""

    replica: Id
    epoch: Id
    seq: Annotated[int, Field(ge=0)]
    providers: list[WireProvider] = Field(max_length=MAX_CLUSTER_PROVIDERS)

    def offered(self) -> list[OfferedProvider]:
        return [
            OfferedProvider(
                p.id,
                p.trust,
                p.routable,
                {
                    name: OfferedModel(
                        ModelCapacity(
                            m.slots,
                            m.prefill_tps,
                            m.decode_tps,
                            m.context_length,
                            m.lacking,
                            m.able,
                        ),
                        m.in_use,
                        dict(m.by_origin),
                    )
                    for name, m in p.models.items()
                },
            )
            for p in self.providers
        ]


def dump_snapshot(replica: str, epoch: str, seq: int, providers: list[OfferedProvider]) -> bytes:
    """The snapshot message (at most `MAX_CLUSTER_PROVIDERS` providers)."""
    listed = [
        {
            "id": p.provider_id,
            "trust": str(p.trust),
            "routable": p.routable,
            "models": {
                name: {
                    "slots": min(m.capacity.slots, MAX_SLOTS),
                    "in_use": min(m.in_use, MAX_SLOTS),
                    "by_origin": m.by_origin,
                    "prefill_tps": m.capacity.prefill_tps,
                    "decode_tps": m.capacity.decode_tps,
                    "context_length": m.capacity.context_length,
                    "lacking": sorted(m.capacity.lacking),
                    "able": sorted(m.capacity.able),
                }
                for name, m in p.models.items()
            },
        }
        for p in providers[:MAX_CLUSTER_PROVIDERS]
    ]
    body = {"replica": replica, "epoch": epoch, "seq": seq, "providers": listed}
    return json.dumps(body, separators=(",", ":")).encode()


def load_snapshot(data: bytes) -> Snapshot:
    try:
        return Snapshot.model_validate_json(data)
    except ValidationError as exc:
        raise WireError(f"bad capacity snapshot: {exc.error_count()} errors") from None


class DispatchRequest(_Strict):
    """Run `request_id` on the owner's provider `provider_id`; stream to `origin`."""

    request_id: Id
    origin: Id
    provider_id: Id
    model: ModelId
    body_json: Annotated[str, Field(max_length=MAX_REQUEST_BODY_JSON_BYTES)]
    deadline_unix: NonNegFinite
    prompt_tokens: Annotated[int, Field(ge=0, le=MAX_USAGE_TOKENS)]
    max_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS_LIMIT)]
    min_trust: Trust
    needs: frozenset[Capability] = frozenset()
    min_context: Annotated[int, Field(ge=0, le=MAX_USAGE_TOKENS)] = 0
    kind: RequestKind = RequestKind.CHAT  # the API the body follows (chat, completions, ...)
    body_stored: bool = False  # the body is in the object store, not here (crossing_bodies.py)

    def reserve(self, deadline: float) -> Reserve:
        return Reserve(
            self.model,
            self.prompt_tokens,
            self.max_tokens,
            self.min_trust,
            deadline=deadline,
            needs=self.needs,
            min_context=self.min_context,
        )


def dump_dispatch(
    request_id: str, origin: str, provider_id: str, body_json: str, deadline_unix: float,
    reserve: Reserve, kind: RequestKind = RequestKind.CHAT, *, body_stored: bool = False,
) -> bytes:  # fmt: skip
    """The dispatch request for running `reserve`'s request on `provider_id`; with
    `body_stored`, the body is in the object store and `body_json` is not sent."""
    body = {
        "request_id": request_id,
        "origin": origin,
        "provider_id": provider_id,
        "model": reserve.model,
        "body_json": body_json,
        "deadline_unix": deadline_unix,
        "prompt_tokens": reserve.prompt_tokens,
        "max_tokens": reserve.max_tokens,
        "min_trust": str(reserve.min_trust),
        "needs": sorted(reserve.needs),
        "min_context": reserve.min_context,
        "kind": str(kind),
    }
    if body_stored:
        body["body_json"], body["body_stored"] = "", True
    return json.dumps(body, separators=(",", ":")).encode()


def load_dispatch(data: bytes) -> DispatchRequest:
    try:
        return DispatchRequest.model_validate_json(data)
    except ValidationError as exc:
        raise WireError(f"bad dispatch request: {exc.error_count()} errors") from None


def dump_answer(ok: bool, error: str = "") -> bytes:
    """The owner's answer to a dispatch request."""
    return json.dumps({"ok": ok, "error": error[:512]}).encode()


def load_answer(data: bytes) -> tuple[bool, str]:
    try:
        answer = json.loads(data)
        return bool(answer["ok"]), str(answer.get("error", ""))[:512]
    except (ValueError, KeyError, TypeError):
        raise WireError("bad dispatch answer") from None


def dump_cancel(request_id: str) -> bytes:
    return json.dumps({"request_id": request_id}).encode()


def load_cancel(data: bytes) -> str:
    try:
        request_id = json.loads(data)["request_id"]
    except (ValueError, KeyError, TypeError):
        raise WireError("bad cancel") from None
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 128:
        raise WireError("bad cancel")
    return request_id


# -- stream batches: {"seq": n, "items": [{"d": deltas, "t": tokens} | {"end": {...}}]} --

_END_FIELDS = frozenset(f.name for f in fields(StreamEnd))


def encode_item(item: StreamChunk | StreamEnd) -> str:
    """One stream item as a JSON fragment of a batch."""
    if type(item) is StreamChunk:
        return json.dumps({"d": item.deltas, "t": item.tokens}, separators=(",", ":"))
    assert isinstance(item, StreamEnd)
    return json.dumps({"end": asdict(item)}, separators=(",", ":"))


def dump_batch(seq: int, encoded: list[str]) -> bytes:
    return f'{{"seq":{seq},"items":[{",".join(encoded)}]}}'.encode()


def load_batch(data: bytes) -> tuple[int, list[StreamChunk | StreamEnd]]:
    """The batch's sequence number and items (WireError if its envelope is wrong)."""
    try:
        batch = json.loads(data)
        seq = batch["seq"]
        raw = batch["items"]
        if type(seq) is not int or not isinstance(raw, list):
            raise TypeError
        return seq, [_item(x) for x in raw]
    except (ValueError, KeyError, TypeError):
        raise WireError("bad stream batch") from None


def _item(raw: Any) -> StreamChunk | StreamEnd:
    if "end" in raw:
        end = raw["end"]
        if not isinstance(end, dict) or not _END_FIELDS.issuperset(end):
            raise TypeError
        return StreamEnd(**end)
    deltas, tokens = raw["d"], raw["t"]
    if not isinstance(deltas, list) or type(tokens) is not int or tokens < 0:
        raise TypeError
    return StreamChunk(deltas, tokens)


__all__ = [
    "DispatchRequest",
    "Snapshot",
    "WireError",
    "dump_answer",
    "dump_batch",
    "dump_cancel",
    "dump_dispatch",
    "dump_snapshot",
    "encode_item",
    "load_answer",
    "load_batch",
    "load_cancel",
    "load_dispatch",
    "load_snapshot",
]
