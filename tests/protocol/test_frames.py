"""Wire frame models: round trips, close-code mapping of bad frames, field bounds."""

from __future__ import annotations

import json

import pytest

from switchyard.protocol.codes import CloseCode, FrameError
from switchyard.protocol.frames import (
    MAX_USAGE_TOKENS,
    Attestation,
    CancelFrame,
    ChallengeFrame,
    ChallengeResponseFrame,
    ChunkFrame,
    CompleteFrame,
    Delta,
    DrainFrame,
    ErrorFrame,
    HeartbeatFrame,
    InferenceRequestFrame,
    ModelSpec,
    ProtocolErrorFrame,
    ProviderStatus,
    RegisteredFrame,
    RegisterFrame,
    ResyncFrame,
    Usage,
    dump_frame,
    dump_inference_request,
    dump_request_body,
    parse_coordinator_frame,
    parse_provider_frame,
)
from switchyard.protocol.limits import (
    INFERENCE_ENVELOPE_BYTES,
    MAX_COORDINATOR_FRAME_BYTES,
    MAX_PROVIDER_FRAME_BYTES,
    MAX_REQUEST_BODY_JSON_BYTES,
)
from switchyard.protocol.provider_frames import UpstreamReport

KEY = "BCNT6nOOSVzqRPUuT7naDDCbgk1+pPriJe8bi/1VGDI="


def register_dict(**overrides: object) -> dict[str, object]:
    frame: dict[str, object] = {
        "type": "register",
        "protocol_version": 2,
        "agent_version": "0.1.0",
        "public_key": KEY,
        "attestation": {"kind": "none"},
        "models": [{"id": "sim-small", "slots": 4}],
    }
    frame.update(overrides)
    return frame


PROVIDER_FRAMES = [
    RegisterFrame(
        protocol_version=2,
        agent_version="0.1.0",
        public_key=KEY,
        attestation=Attestation(kind="test-hardware", evidence="abc"),
        models=[ModelSpec(id="m", slots=2, context_length=4096, decode_tps=50.5)],
        hardware={"gpu": "A100", "vram_gb": 80, "tflops": 312.5},
    ),
    HeartbeatFrame(in_use={"m": 1}, load=0.5),
    HeartbeatFrame(upstream=UpstreamReport(healthy=False, reason="GET /health: HTTP 503")),
    ChallengeResponseFrame(
        nonce="ab" * 32, signature="sig", status=ProviderStatus(in_use={"m": 0}, load=0.0)
    ),
    ChunkFrame(request_id="r1", deltas=[Delta(role="assistant"), Delta(content="hi")]),
    ChunkFrame(
        request_id="r1",
        deltas=[
            Delta.model_validate(
                {
                    "index": 1,
                    "reasoning_content": "hm",
                    "tool_calls": [
                        {"index": 0, "id": "c", "type": "function", "function": {"name": "f"}},
                        {"index": 1, "function": {"arguments": '{"a":'}},
                    ],
                    "logprobs": {
                        "content": [
                            {
                                "token": "x",
                                "logprob": -0.5,
                                "bytes": [120],
                                "top_logprobs": [{"token": "y", "logprob": -1.0}],
                            }
                        ]
                    },
                }
            ),
            Delta(refusal="no"),
            Delta(index=1, finish_reason="tool_calls"),
        ],
    ),
    CompleteFrame(
        request_id="r1", usage=Usage(prompt_tokens=3, completion_tokens=7), finish_reason="length"
    ),
    CompleteFrame.model_validate(
        {
            "request_id": "r1",
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 7,
                "completion_tokens_details": {"reasoning_tokens": 5},
                "prompt_tokens_details": {"cached_tokens": 2},
            },
            "finish_reason": "tool_calls",
        }
    ),
    ErrorFrame(request_id="r1", code="busy", message="no free slot", retryable=True),
    ErrorFrame(
        request_id="r1", code="upstream_rejected", message="too long", retryable=False, status=400
    ),
]

COORDINATOR_FRAMES = [
    RegisteredFrame(
        provider_id="prov-0123456789abcdef",
        trust="self_signed",
        challenge_interval_s=60.0,
        heartbeat_interval_s=5.0,
    ),
    ChallengeFrame(nonce="0f" * 32, deadline=1_700_000_000.5),
    InferenceRequestFrame(
        request_id="r1",
        model="m",
        request={
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ],
            "max_tokens": 16,
            "temperature": 0.7,
            "stop": ["\n\n"],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "top_k": 5,
            "stream": True,
        },
        deadline=1_700_000_000.0,
    ),
    CancelFrame(request_id="r1"),
    DrainFrame(),
    ResyncFrame(),
    ProtocolErrorFrame(code=4004, message="bad field"),
]


@pytest.mark.parametrize("frame", PROVIDER_FRAMES, ids=lambda f: f.type)
def test_provider_frames_round_trip(frame: object) -> None:
    text = dump_frame(frame)  # type: ignore[arg-type]
    assert parse_provider_frame(text) == frame
    assert parse_provider_frame(text.encode()) == frame


@pytest.mark.parametrize("frame", COORDINATOR_FRAMES, ids=lambda f: f.type)
def test_coordinator_frames_round_trip(frame: object) -> None:
    text = dump_frame(frame)  # type: ignore[arg-type]
    assert parse_coordinator_frame(text) == frame


def test_dump_omits_none_fields() -> None:
    text = dump_frame(ChunkFrame(request_id="r", deltas=[Delta(content="x")]))
    assert json.loads(text) == {"type": "chunk", "request_id": "r", "deltas": [{"content": "x"}]}
    frame = json.loads(dump_frame(COORDINATOR_FRAMES[2]))
    assert frame["kind"] == "chat"
    assert frame["request"] == COORDINATOR_FRAMES[2].request  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "delta",
    [
        {},
        {"index": 1},
        {"index": -1, "content": "x"},
        {"index": 128, "content": "x"},
        {"content": "x", "audio": {}},
        {"tool_calls": [{"function": {"name": "f"}}]},
        {"tool_calls": [{"index": 0, "type": "retrieval"}]},
        {"tool_calls": [{"index": 0, "function": {"name": "f", "extra": 1}}]},
        {"logprobs": {"content": [{"token": "x"}]}},
        {"logprobs": {"content": [{"token": "x", "logprob": -1, "bytes": [256]}]}},
        {"finish_reason": "eos"},
        {"content": 5},
    ],
)
def test_bad_deltas_are_validation_errors(delta: dict[str, object]) -> None:
    frame = {"type": "chunk", "request_id": "r", "deltas": [delta]}
    assert code_of(json.dumps(frame)) == CloseCode.VALIDATION_FAILED


def code_of(text: str | bytes, coordinator: bool = False) -> CloseCode:
    parse = parse_coordinator_frame if coordinator else parse_provider_frame
    with pytest.raises(FrameError) as info:
        parse(text)
    assert info.value.message
    assert len(info.value.message) <= 4096
    return info.value.code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", CloseCode.INVALID_JSON),
        ("", CloseCode.INVALID_JSON),
        (b"\xff\xfe", CloseCode.INVALID_JSON),
        ("\ud800", CloseCode.INVALID_JSON),
        ("[1, 2]", CloseCode.INVALID_JSON),
        ('"register"', CloseCode.INVALID_JSON),
        ("{}", CloseCode.UNKNOWN_TYPE),
        ('{"type": "nope"}', CloseCode.UNKNOWN_TYPE),
        ('{"type": 5}', CloseCode.UNKNOWN_TYPE),
        ('{"type": "registered"}', CloseCode.UNKNOWN_TYPE),
        ('{"type": "heartbeat", "load": NaN}', CloseCode.VALIDATION_FAILED),
        ('{"type": "heartbeat", "load": Infinity}', CloseCode.VALIDATION_FAILED),
        ('{"type": "heartbeat", "load": -1}', CloseCode.VALIDATION_FAILED),
        ('{"type": "heartbeat", "load": "0.5"}', CloseCode.VALIDATION_FAILED),
        ('{"type": "heartbeat", "in_use": {"m": 1.5}}', CloseCode.VALIDATION_FAILED),
        ('{"type": "heartbeat", "extra": 1}', CloseCode.VALIDATION_FAILED),
        ('{"type": "chunk", "request_id": "r", "deltas": []}', CloseCode.VALIDATION_FAILED),
        ('{"type": "chunk", "request_id": "r", "deltas": [{}]}', CloseCode.VALIDATION_FAILED),
        ('{"type": "chunk", "request_id": "", "deltas": [{"content": "x"}]}', 4004),
        ('{"type": "error", "request_id": "r", "code": "x", "message": "m"}', 4004),
    ],
)
def test_bad_provider_frames_map_to_close_codes(text: str | bytes, code: int) -> None:
    assert code_of(text) == code


def test_oversized_frames() -> None:
    assert code_of("x" * (MAX_PROVIDER_FRAME_BYTES + 1)) == CloseCode.FRAME_TOO_LARGE
    # under the limit in characters but over it in UTF-8 bytes
    assert code_of("é" * (MAX_PROVIDER_FRAME_BYTES // 2 + 1)) == CloseCode.FRAME_TOO_LARGE
    content = "a" * (MAX_PROVIDER_FRAME_BYTES - 200)
    ok = dump_frame(ChunkFrame(request_id="r", deltas=[Delta(content=content)]))
    assert parse_provider_frame(ok).deltas[0].content == content


def _inference_text(prompt: str, request_id: str = "req_1", model: str = "m") -> str:
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 5}
    return dump_inference_request(request_id, model, dump_request_body(body).decode(), 1.5)


def test_coordinator_frames_may_carry_what_a_consumer_may_send() -> None:
    # 400,000 euro signs: 1.2 MB of UTF-8, over the provider frame limit, fine this way.
    text = _inference_text("€" * 400_000)
    assert len(text.encode()) > MAX_PROVIDER_FRAME_BYTES
    frame = parse_coordinator_frame(text)
    assert isinstance(frame, InferenceRequestFrame)
    assert frame.request["messages"][0]["content"] == "€" * 400_000
    assert frame.request_id == "req_1" and frame.model == "m" and frame.deadline == 1.5
    # A coordinator frame is measured in bytes too: fewer characters than the limit is
    # not enough.
    over = _inference_text("€" * (MAX_COORDINATOR_FRAME_BYTES // 3))
    assert len(over) < MAX_COORDINATOR_FRAME_BYTES < len(over.encode())
    with pytest.raises(FrameError) as info:
        parse_coordinator_frame(over)
    assert info.value.code == CloseCode.FRAME_TOO_LARGE


def test_inference_request_text_is_the_frame_dump_frame_would_send() -> None:
    frame = COORDINATOR_FRAMES[2]
    assert isinstance(frame, InferenceRequestFrame)
    body_json = dump_request_body(frame.request).decode()
    text = dump_inference_request(frame.request_id, frame.model, body_json, frame.deadline)
    assert json.loads(text) == json.loads(dump_frame(frame))
    assert parse_coordinator_frame(text) == frame


def test_the_envelope_bound_holds_for_the_largest_ids_and_names() -> None:
    body_json = dump_request_body({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1})
    # Control characters are the longest escapes (6 bytes each); 4-byte characters too.
    for char in ("\x01", "😀"):
        text = _inference_text("x", request_id=char * 128, model=char * 200)
        assert len(text.encode()) - len(body_json) <= INFERENCE_ENVELOPE_BYTES
    assert MAX_REQUEST_BODY_JSON_BYTES + INFERENCE_ENVELOPE_BYTES == MAX_COORDINATOR_FRAME_BYTES


@pytest.mark.parametrize(
    "overrides",
    [
        {"models": []},
        {"models": [{"id": "m", "slots": 0}]},
        {"models": [{"id": "m", "slots": 1025}]},
        {"models": [{"id": "m", "slots": True}]},
        {"models": [{"id": "m", "slots": 1}, {"id": "m", "slots": 2}]},
        {"models": [{"id": "x" * 201, "slots": 1}]},
        {"models": [{"id": "m", "slots": 1, "decode_tps": -5.0}]},
        {"models": [{"id": f"m{i}", "slots": 1} for i in range(65)]},
        {"public_key": "not-base64"},
        {"public_key": "QUJD"},
        {"protocol_version": 0},
        {"agent_version": "v" * 129},
        {"attestation": {"kind": "Bad Kind"}},
        {"hardware": {"gpu": {"nested": 1}}},
    ],
)
def test_register_field_bounds(overrides: dict[str, object]) -> None:
    assert code_of(json.dumps(register_dict(**overrides))) == CloseCode.VALIDATION_FAILED


def test_register_accepts_any_protocol_version() -> None:
    """The version is checked by the coordinator (4012), not by the parser."""
    for version in (1, 3):
        frame = parse_provider_frame(json.dumps(register_dict(protocol_version=version)))
        assert isinstance(frame, RegisterFrame)
        assert frame.protocol_version == version


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "challenge", "nonce": "AB" * 32, "deadline": 1.0},
        {"type": "challenge", "nonce": "ab", "deadline": 1.0},
        {"type": "registered", "provider_id": "p", "trust": "total",
         "challenge_interval_s": 1.0, "heartbeat_interval_s": 1.0},
        {"type": "registered", "provider_id": "p", "trust": "hardware",
         "challenge_interval_s": 0, "heartbeat_interval_s": 1.0},
        {"type": "inference_request", "request_id": "r", "model": "m", "deadline": 1.0,
         "request": []},
        {"type": "inference_request", "request_id": "r", "model": "m", "deadline": 1.0},
        {"type": "inference_request", "request_id": "r", "model": "m", "deadline": 1.0,
         "kind": "translation", "request": {}},
        {"type": "inference_request", "request_id": "r" * 129, "model": "m", "deadline": 1.0,
         "request": {"messages": [{"role": "user", "content": "x"}], "max_tokens": 5}},
        {"type": "protocol_error", "code": 4004, "message": "m" * 4097},
    ],
)  # fmt: skip
def test_bad_coordinator_frames(frame: dict[str, object]) -> None:
    assert code_of(json.dumps(frame), coordinator=True) == CloseCode.VALIDATION_FAILED


def test_validation_message_names_the_field_without_echoing_input() -> None:
    secret = "s3cr3t-value"
    with pytest.raises(FrameError) as info:
        parse_provider_frame(json.dumps(register_dict(public_key=secret)))
    assert "public_key" in info.value.message
    assert secret not in info.value.message


def test_deeply_nested_json_is_a_frame_error() -> None:
    assert code_of("[" * 100_000 + "]" * 100_000) == CloseCode.INVALID_JSON
    nested = '{"type": "heartbeat", "in_use": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}"
    assert code_of(nested) in (CloseCode.INVALID_JSON, CloseCode.VALIDATION_FAILED)


@pytest.mark.parametrize("field", ["prompt_tokens", "completion_tokens"])
def test_usage_counts_are_bounded_by_what_a_usage_row_holds(field: str) -> None:
    from switchyard.storage.validate import MAX_TOKENS

    assert MAX_USAGE_TOKENS <= MAX_TOKENS
    usage = {"prompt_tokens": 1, "completion_tokens": 1}
    frame = {"type": "complete", "request_id": "r", "finish_reason": "stop", "usage": usage}
    assert parse_provider_frame(json.dumps({**frame, "usage": {**usage, field: MAX_USAGE_TOKENS}}))
    for bad in (MAX_USAGE_TOKENS + 1, 2**53, -1):
        with pytest.raises(FrameError) as caught:
            parse_provider_frame(json.dumps({**frame, "usage": {**usage, field: bad}}))
        assert caught.value.code == CloseCode.VALIDATION_FAILED
        assert field in caught.value.message
