"""Property tests: no input ever makes the frame parsers raise anything but FrameError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.protocol.codes import CloseCode, FrameError
from switchyard.protocol.frames import (
    ChunkFrame,
    Delta,
    HeartbeatFrame,
    dump_frame,
    parse_coordinator_frame,
    parse_provider_frame,
)

PROVIDER_TYPES = [
    "register",
    "heartbeat",
    "challenge_response",
    "chunk",
    "chunk_batch",
    "complete",
    "error",
]
COORDINATOR_TYPES = [
    "registered",
    "challenge",
    "inference_request",
    "cancel",
    "drain",
    "resync",
    "protocol_error",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(PROVIDER_TYPES + COORDINATOR_TYPES),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["type", "request_id", "deltas", "chunks", "content", "role", "in_use", "load",
             "models", "id", "slots", "usage", "request", "messages", "nonce", "status", "x"]
        ),
        children,
        max_size=5,
    ),
    max_leaves=20,
)  # fmt: skip

framed = st.fixed_dictionaries(
    {"type": st.sampled_from(PROVIDER_TYPES + COORDINATOR_TYPES)},
    optional={
        "request_id": json_values,
        "deltas": json_values,
        "chunks": json_values,
        "in_use": json_values,
        "load": json_values,
        "models": json_values,
        "request": json_values,
        "nonce": json_values,
        "status": json_values,
        "usage": json_values,
    },
)


def parse_both(text: str | bytes) -> None:
    for parse in (parse_provider_frame, parse_coordinator_frame):
        try:
            frame = parse(text)
        except FrameError as exc:
            assert isinstance(exc.code, CloseCode)
            assert 4000 <= exc.code <= 4999
        else:
            assert parse(dump_frame(frame)) == frame


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    parse_both(text)


@settings(max_examples=200)
@given(st.binary())
def test_arbitrary_bytes(data: bytes) -> None:
    parse_both(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json(value: object) -> None:
    parse_both(json.dumps(value))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(framed)
def test_json_objects_with_a_known_type(value: dict[str, object]) -> None:
    parse_both(json.dumps(value))


@given(
    st.dictionaries(st.text(min_size=1, max_size=200), st.integers(0, 1024), max_size=64),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    st.lists(st.text(), min_size=1, max_size=8),
)
def test_valid_frames_round_trip(in_use: dict[str, int], load: float, pieces: list[str]) -> None:
    heartbeat = HeartbeatFrame(in_use=in_use, load=load)
    assert parse_provider_frame(dump_frame(heartbeat)) == heartbeat
    chunk = ChunkFrame(request_id="r", deltas=[Delta(content=p) for p in pieces])
    assert parse_provider_frame(dump_frame(chunk)) == chunk
