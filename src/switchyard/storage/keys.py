"""Ids and secrets: random object ids, raw API keys / provider tokens, and their hashes.

A raw secret is shown to its owner once; stores keep only `hash_secret(raw)` (SHA-256 hex)
and `display_prefix(raw)` (the first 12 characters, for listing keys in an admin UI).
"""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "sk-sy-"
PROVIDER_TOKEN_PREFIX = "pt-sy-"
DISPLAY_PREFIX_LEN = 12
MAX_SECRET_LEN = 256


def new_id(prefix: str) -> str:
    """A fresh object id such as ``acct_3f9c…`` (prefix + "_" + 24 random hex chars)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def new_secret(prefix: str) -> str:
    """A fresh raw secret: prefix + 43 URL-safe random chars (256 bits)."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(raw: str) -> str:
    """SHA-256 hex of a raw secret: the only form in which secrets are stored."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(raw: str) -> str:
    """The part of a raw secret safe to display (first 12 characters)."""
    return raw[:DISPLAY_PREFIX_LEN]


def plausible_secret(raw: object, prefix: str) -> bool:
    """Cheap pre-check before hashing a presented secret: right type, prefix and length."""
    return isinstance(raw, str) and raw.startswith(prefix) and len(raw) <= MAX_SECRET_LEN


def chosen_secret(raw: str, prefix: str) -> str:
    """Check a caller-chosen secret (e.g. `switchyard dev --api-key`); InvalidInput if unfit."""
    from .errors import InvalidInput

    body = raw[len(prefix) :] if isinstance(raw, str) and raw.startswith(prefix) else ""
    if (
        len(body) < 8
        or len(raw) > MAX_SECRET_LEN
        or not all(c.isalnum() or c in "-_" for c in body)
    ):
        raise InvalidInput(f"a chosen key must be {prefix} plus at least 8 of [A-Za-z0-9_-]")
    return raw
