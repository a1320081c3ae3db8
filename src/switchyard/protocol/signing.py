"""Ed25519 identity and challenge signing, as the README's wire protocol section fixes it.

signed message = bytes.fromhex(nonce) + provider_id (UTF-8) + sha256(canonical_json(status)).

`status` may be a mapping or a `ProviderStatus` model. Before hashing it is normalized to the
declared types (`load` as a float, `in_use` counts as ints) so that a peer that writes
`"load": 1` and one that reads it back as `1.0` still agree on the digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel

NONCE_BYTES = 32


def canonical_json(obj: Any) -> bytes:
    """The canonical JSON encoding used for status digests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Standard padded base64 of the raw 32-byte public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def _raw_public_key(public_key_b64: str) -> bytes:
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("public key is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError("public key must be 32 raw bytes")
    return raw


def provider_id_for(public_key_b64: str) -> str:
    """`prov-` + the first 16 hex digits of sha256(raw public key); ValueError on a bad key."""
    return "prov-" + hashlib.sha256(_raw_public_key(public_key_b64)).hexdigest()[:16]


def new_nonce() -> str:
    """A fresh 32-byte random nonce as 64 lowercase hex digits."""
    return secrets.token_hex(NONCE_BYTES)


def normalize_status(status: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """Status as a plain dict with `load` a float and `in_use` values ints."""
    raw: dict[str, Any] = status.model_dump() if isinstance(status, BaseModel) else dict(status)
    load = raw.get("load")
    if isinstance(load, int) and not isinstance(load, bool):
        raw["load"] = float(load)
    in_use = raw.get("in_use")
    if isinstance(in_use, Mapping):
        raw["in_use"] = dict(in_use)
    return raw


def status_digest(status: Mapping[str, Any] | BaseModel) -> bytes:
    """sha256 of the canonical JSON of the (normalized) status."""
    return hashlib.sha256(canonical_json(normalize_status(status))).digest()


def challenge_message(
    nonce_hex: str, provider_id: str, status: Mapping[str, Any] | BaseModel
) -> bytes:
    """The bytes a provider signs; ValueError if the nonce is not hex."""
    return bytes.fromhex(nonce_hex) + provider_id.encode("utf-8") + status_digest(status)


def sign_challenge(
    private_key: Ed25519PrivateKey,
    nonce_hex: str,
    provider_id: str,
    status: Mapping[str, Any] | BaseModel,
) -> str:
    """Standard base64 of the Ed25519 signature over the challenge message."""
    signature = private_key.sign(challenge_message(nonce_hex, provider_id, status))
    return base64.b64encode(signature).decode("ascii")


def verify_challenge(
    public_key_b64: str,
    nonce_hex: str,
    provider_id: str,
    status: Mapping[str, Any] | BaseModel,
    signature_b64: str,
) -> bool:
    """True iff the signature is valid; False (never an exception) on any bad input."""
    try:
        public = Ed25519PublicKey.from_public_bytes(_raw_public_key(public_key_b64))
        signature = base64.b64decode(signature_b64, validate=True)
        if len(signature) != 64:
            return False
        public.verify(signature, challenge_message(nonce_hex, provider_id, status))
    except InvalidSignature:
        return False
    except Exception:  # by contract any malformed input is just "not verified"
        return False
    return True
