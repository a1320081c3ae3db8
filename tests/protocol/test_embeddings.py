"""Embeddings requests and answers: inputs checked, the hold's bound, the fold by input."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from switchyard.protocol import embeddings
from switchyard.protocol.embeddings import EmbeddingFold, EmbeddingRequest, embedding_wire_request
from switchyard.protocol.errors import ApiError, parse_json_body


def parsed(**body: Any) -> EmbeddingRequest:
    return parse_json_body(json.dumps({"model": "e", **body}).encode(), EmbeddingRequest)


def b64(*values: float) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def test_inputs_and_the_hold_bound() -> None:
    assert parsed(input="héllo").inputs == 1
    assert parsed(input=[1, 2, 3]).inputs == 1
    assert parsed(input=[[1, 2], [3]]).inputs == 2
    assert parsed(input=["a", "b"]).inputs == 2
    special = embeddings.SPECIAL_TOKENS_PER_INPUT
    assert parsed(input="héllo").prompt_tokens_bound() == 6 + special  # UTF-8 bytes
    assert parsed(input=[[1, 2], [3]]).prompt_tokens_bound() == 3 + 2 * special
    req = parsed(input="x", dimensions=8, encoding_format="base64", user="u", extra=1)
    data = {"model": "e", "input": "x", "dimensions": 8, "encoding_format": "base64",
            "user": "u", "extra": 1, "gone": None}  # fmt: skip
    assert embedding_wire_request(data, req) == {
        "input": "x", "dimensions": 8, "extra": 1, "model": "e"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": [[]]}, "input"),
        ({"input": [-1]}, "input"),
        ({"input": [True]}, "input"),
        ({"input": [2**31]}, "input"),
        ({"input": ["a", [1]]}, "input"),
        ({"input": ["a"] * 2049}, "input"),
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": "a", "dimensions": 16_385}, "dimensions"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({}, "input"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        parsed(**body)
    assert (caught.value.status, caught.value.param) == (400, param)


def test_the_fold_gathers_by_index_and_renders_both_formats() -> None:
    fold = EmbeddingFold(2)
    fold.add([{"content": "ignored"}, {"embedding": {"index": 1, "b64": b64(0.5, 1.0)}}])
    with pytest.raises(ApiError) as caught:
        fold.end()
    assert caught.value.status == 502
    fold.add([{"embedding": {"index": 0, "b64": b64(9.0)}}])
    fold.add([{"embedding": {"index": 0, "b64": b64(-0.25, 2.0)}}])  # a retry overwrites
    fold.add([{"embedding": {"index": 7, "b64": b64(1.0)}}])  # beyond the inputs: dropped
    fold.end()
    body = fold.body("e", "float", 6)
    assert [d["embedding"] for d in body["data"]] == [[-0.25, 2.0], [0.5, 1.0]]
    assert body["usage"] == {"prompt_tokens": 6, "total_tokens": 6}
    assert fold.body("e", "base64", 6)["data"][1]["embedding"] == b64(0.5, 1.0)


def test_the_fold_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "MAX_EMBEDDING_OUTPUT_CHARS", 20)
    fold = EmbeddingFold(3)
    fold.add([{"embedding": {"index": 0, "b64": b64(1.0, 2.0)}}])
    with pytest.raises(ApiError) as caught:
        fold.add([{"embedding": {"index": 1, "b64": b64(1.0, 2.0)}}])
    assert caught.value.status == 502
