"""The typed vocabulary: wire strings unchanged, trust ordered by rank, codes on every error."""

from __future__ import annotations

import inspect
import json

import pytest

from switchyard.protocol import errors
from switchyard.protocol.vocabulary import (
    DEADLINE_CODES,
    NEUTRAL_OUTCOMES,
    ApiErrorCode,
    Outcome,
    StreamErrorCode,
    Trust,
)


def test_members_are_their_wire_strings() -> None:
    assert [str(t) for t in Trust] == ["untrusted", "self_signed", "hardware"]
    assert json.dumps({"trust": Trust.HARDWARE, "outcome": Outcome.CANCELLED}) == (
        '{"trust": "hardware", "outcome": "cancelled"}'
    )
    assert f"{Outcome.CONSUMER_TOO_SLOW}" == "consumer_too_slow"
    assert Outcome.http(429) == "http_429"
    assert StreamErrorCode.TIMEOUT == "timeout" and ApiErrorCode.PROVIDER_ERROR == "provider_error"
    assert NEUTRAL_OUTCOMES == {"ok", "cancelled", "rejected"}
    assert DEADLINE_CODES == {"timeout", "deadline_exceeded"}


def test_trust_orders_by_rank_not_alphabet() -> None:
    assert Trust.UNTRUSTED < Trust.SELF_SIGNED < Trust.HARDWARE  # alphabetically: reversed
    assert sorted([Trust.HARDWARE, Trust.UNTRUSTED, Trust.SELF_SIGNED]) == list(Trust)
    assert min(Trust.HARDWARE, Trust.SELF_SIGNED) is Trust.SELF_SIGNED
    assert Trust.HARDWARE >= Trust.HARDWARE and not Trust.SELF_SIGNED > Trust.HARDWARE
    assert [Trust.by_rank(t.rank) for t in Trust] == list(Trust)
    with pytest.raises(TypeError):
        _ = Trust.HARDWARE < "untrusted"  # a bare string has no rank: refuse, never guess
    with pytest.raises(TypeError):
        _ = "untrusted" < Trust.HARDWARE


def test_trust_parse_is_the_one_parser() -> None:
    assert Trust.parse("hardware") is Trust.HARDWARE
    assert Trust.parse("Self_Signed") is Trust.SELF_SIGNED
    assert Trust.parse(Trust.UNTRUSTED) is Trust.UNTRUSTED
    for bad in ("root", "", "hard ware"):
        with pytest.raises(ValueError, match="trust"):
            Trust.parse(bad)


def test_every_error_factory_sets_a_typed_code() -> None:
    samples = {
        "invalid_request": errors.invalid_request("x", code=ApiErrorCode.INVALID_VALUE),
        "authentication_failed": errors.authentication_failed(),
        "insufficient_credit": errors.insufficient_credit(),
        "permission_denied": errors.permission_denied("x"),
        "not_found": errors.not_found("x"),
        "model_not_found": errors.model_not_found("m"),
        "conflict": errors.conflict("x"),
        "request_too_large": errors.request_too_large(10),
        "request_frame_too_large": errors.request_frame_too_large(10),
        "request_header_too_large": errors.request_header_too_large(10),
        "rate_limited": errors.rate_limited(1.0),
        "internal_error": errors.internal_error(),
        "bad_gateway": errors.bad_gateway("x", ApiErrorCode.STRIPE_ERROR),
        "provider_failed": errors.provider_failed(),
        "service_unavailable": errors.service_unavailable("x", ApiErrorCode.SHUTTING_DOWN),
        "no_capacity": errors.no_capacity("m"),
        "gateway_timeout": errors.gateway_timeout(),
        "upstream_rejected": errors.upstream_rejected(400, "context too long"),
    }
    factories = {
        name
        for name, fn in inspect.getmembers(errors, inspect.isfunction)
        if fn.__module__ == errors.__name__
        and inspect.signature(fn).return_annotation in ("ApiError", errors.ApiError)
        and name not in ("validation_error_to_api_error", "http_error")
    }
    assert factories == set(samples)  # a new factory gets a sample here
    for name, err in samples.items():
        assert isinstance(err.code, ApiErrorCode), name
        assert json.loads(json.dumps(err.openai_body()))["error"]["code"] == str(err.code)
    assert errors.provider_failed().code == "provider_error"
    assert errors.internal_error().code == "internal_error"
