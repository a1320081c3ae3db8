"""The JSON replicas exchange for routing: round trips, and what malformed input gets."""

from __future__ import annotations

import json

import pytest

from switchyard.actors.provider_messages import StreamChunk, StreamEnd
from switchyard.actors.scheduler_messages import ModelCapacity, Reserve
from switchyard.actors.scheduler_remote import OfferedModel, OfferedProvider
from switchyard.cluster.routing_wire import (
    WireError,
    dump_answer,
    dump_batch,
    dump_cancel,
    dump_dispatch,
    dump_snapshot,
    encode_item,
    load_answer,
    load_batch,
    load_cancel,
    load_dispatch,
    load_snapshot,
)
from switchyard.protocol.limits import MAX_CLUSTER_PROVIDERS
from switchyard.protocol.vocabulary import Capability, Trust


def offered(provider_id: str = "p1") -> OfferedProvider:
    capacity = ModelCapacity(4, 1000.0, 40.0, 8192, frozenset({Capability.VISION}))
    model = OfferedModel(capacity, in_use=2, by_origin={"r1": 1})
    return OfferedProvider(provider_id, Trust.HARDWARE, True, {"m": model})


def test_a_snapshot_round_trips() -> None:
    snapshot = load_snapshot(dump_snapshot("r0", "e1", 7, [offered()]))
    assert (snapshot.replica, snapshot.epoch, snapshot.seq) == ("r0", "e1", 7)
    assert snapshot.offered() == [offered()]


def test_a_snapshot_lists_at_most_the_limit() -> None:
    many = [offered(f"p{i}") for i in range(MAX_CLUSTER_PROVIDERS + 5)]
    assert len(load_snapshot(dump_snapshot("r0", "e", 0, many)).providers) == MAX_CLUSTER_PROVIDERS


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"{}",
        json.dumps({"replica": "r", "epoch": "e", "seq": -1, "providers": []}).encode(),
        json.dumps(
            {
                "replica": "r",
                "epoch": "e",
                "seq": 0,
                "providers": [{"id": "p", "trust": "x", "routable": True, "models": {}}],
            }
        ).encode(),
        json.dumps({"replica": "r", "epoch": "e", "seq": 0, "providers": [], "extra": 1}).encode(),
    ],
)
def test_a_malformed_snapshot_is_a_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        load_snapshot(data)


def test_stream_items_round_trip_in_one_batch() -> None:
    items = [
        StreamChunk([{"content": "hé"}, {"role": "assistant"}], 1),
        StreamEnd(finish_reason="stop", prompt_tokens=3, completion_tokens=1),
    ]
    seq, back = load_batch(dump_batch(4, [encode_item(i) for i in items]))
    assert seq == 4
    assert back == items


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b'{"seq": "1", "items": []}',
        b'{"seq": 1, "items": [{"d": "x", "t": 1}]}',
        b'{"seq": 1, "items": [{"d": [], "t": -1}]}',
        b'{"seq": 1, "items": [{"end": {"nope": 1}}]}',
        b'{"seq": 1, "items": [7]}',
    ],
)
def test_a_malformed_batch_is_a_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        load_batch(data)


def test_dispatch_answers_and_cancels() -> None:
    assert load_answer(dump_answer(False, "x" * 2000)) == (False, "x" * 512)
    assert load_cancel(dump_cancel("req_1")) == "req_1"
    for bad in (b"", b'{"request_id": 5}', b'{"request_id": ""}'):
        with pytest.raises(WireError):
            load_cancel(bad)
    with pytest.raises(WireError):
        load_answer(b"[1]")


def test_a_dispatch_request_round_trips() -> None:
    reserve = Reserve("m", 3, 5, Trust.HARDWARE, deadline=0.0, needs=frozenset({Capability.TOOLS}))
    request = load_dispatch(dump_dispatch("req_1", "r0", "p", '{"a":1}', 1e9, reserve))
    assert (request.request_id, request.origin, request.provider_id) == ("req_1", "r0", "p")
    assert request.body_json == '{"a":1}'
    assert request.reserve(2.0) == Reserve(
        "m", 3, 5, Trust.HARDWARE, deadline=2.0, needs=frozenset({Capability.TOOLS})
    )


def test_a_dispatch_request_is_validated() -> None:
    good = {
        "request_id": "req_1", "origin": "r0", "provider_id": "p", "model": "m",
        "body_json": "{}", "deadline_unix": 1e9, "prompt_tokens": 3, "max_tokens": 5,
        "min_trust": "self_signed", "needs": ["tools"], "min_context": 0,
    }  # fmt: skip
    request = load_dispatch(json.dumps(good).encode())
    assert request.reserve(1.0).needs == frozenset({Capability.TOOLS})
    for field, value in (("max_tokens", -1), ("min_trust", "root"), ("request_id", "")):
        with pytest.raises(WireError):
            load_dispatch(json.dumps({**good, field: value}).encode())
