"""Challenge signing per the wire protocol: provider id, message layout, never raises."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.protocol.frames import ProviderStatus
from switchyard.protocol.signing import (
    canonical_json,
    challenge_message,
    new_nonce,
    provider_id_for,
    public_key_b64,
    sign_challenge,
    verify_challenge,
)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_provider_id_is_prefix_of_sha256_of_raw_key(key: Ed25519PrivateKey) -> None:
    pub = public_key_b64(key)
    raw = base64.b64decode(pub)
    assert len(raw) == 32
    assert provider_id_for(pub) == "prov-" + hashlib.sha256(raw).hexdigest()[:16]
    assert public_key_b64(key.public_key()) == pub


@pytest.mark.parametrize("bad", ["", "!!!", "QUJD", base64.b64encode(b"x" * 33).decode()])
def test_provider_id_rejects_bad_keys(bad: str) -> None:
    with pytest.raises(ValueError):
        provider_id_for(bad)


def test_nonce_is_64_lowercase_hex() -> None:
    nonce = new_nonce()
    assert len(nonce) == 64
    assert nonce == nonce.lower()
    assert len(bytes.fromhex(nonce)) == 32
    assert new_nonce() != nonce


def test_canonical_json_and_message_layout() -> None:
    status = {"load": 0.5, "in_use": {"b": 1, "a": 2}}
    assert canonical_json(status) == b'{"in_use":{"a":2,"b":1},"load":0.5}'
    assert canonical_json({"x": "é"}) == b'{"x":"\\u00e9"}'
    nonce = "ab" * 32
    expected = (
        bytes.fromhex(nonce)
        + b"prov-0123456789abcdef"
        + hashlib.sha256(b'{"in_use":{"a":2,"b":1},"load":0.5}').digest()
    )
    assert challenge_message(nonce, "prov-0123456789abcdef", status) == expected


def test_sign_and_verify(key: Ed25519PrivateKey) -> None:
    pub = public_key_b64(key)
    pid = provider_id_for(pub)
    nonce = new_nonce()
    status = {"in_use": {"sim-small": 1}, "load": 0.25}
    sig = sign_challenge(key, nonce, pid, status)
    assert len(base64.b64decode(sig)) == 64
    assert verify_challenge(pub, nonce, pid, status, sig)
    # the parsed model form verifies the same as the dict the agent signed
    assert verify_challenge(pub, nonce, pid, ProviderStatus(**status), sig)
    # any change breaks it: other nonce (replay), other id, other status, other key
    assert not verify_challenge(pub, new_nonce(), pid, status, sig)
    assert not verify_challenge(pub, nonce, "prov-ffffffffffffffff", status, sig)
    assert not verify_challenge(pub, nonce, pid, {"in_use": {"sim-small": 2}, "load": 0.25}, sig)
    other = public_key_b64(Ed25519PrivateKey.generate())
    assert not verify_challenge(other, nonce, pid, status, sig)


def test_integer_load_matches_its_float_reading(key: Ed25519PrivateKey) -> None:
    pub = public_key_b64(key)
    pid = provider_id_for(pub)
    nonce = new_nonce()
    sig = sign_challenge(key, nonce, pid, {"in_use": {}, "load": 1})
    assert verify_challenge(pub, nonce, pid, ProviderStatus(in_use={}, load=1.0), sig)


@pytest.mark.parametrize(
    ("pub", "nonce", "pid", "status", "sig"),
    [
        ("garbage", "ab" * 32, "p", {}, "AAAA"),
        (None, "ab" * 32, "p", {}, "AAAA"),
        ("VALID", "not hex", "p", {}, "AAAA"),
        ("VALID", "ab" * 32, "p", {}, "not base64!"),
        ("VALID", "ab" * 32, "p", {}, base64.b64encode(b"x" * 63).decode()),
        ("VALID", "ab" * 32, "p\ud800", {}, base64.b64encode(b"x" * 64).decode()),
        ("VALID", "ab" * 32, "p", {"load": float("nan"), "x": object()}, "AAAA"),
        ("VALID", 7, "p", None, 7),
    ],
)
def test_verify_never_raises(
    key: Ed25519PrivateKey, pub: object, nonce: object, pid: object, status: object, sig: object
) -> None:
    real_pub = public_key_b64(key) if pub == "VALID" else pub
    assert verify_challenge(real_pub, nonce, pid, status, sig) is False  # type: ignore[arg-type]
