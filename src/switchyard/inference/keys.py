"""ApiKeyCache: API key → key record (and its limits), cached briefly so revocation bites fast."""

from __future__ import annotations

import hashlib

import trio

from ..storage.models import ApiKeyRecord, KeyLimits
from ..storage.protocol import Store


class ApiKeyCache:
    """Positive lookups are kept for `ttl_s`; unknown or revoked keys always ask the store."""

    def __init__(self, store: Store, ttl_s: float = 2.0, max_entries: int = 100_000) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[str, tuple[ApiKeyRecord, float]] = {}
        self._limits: dict[str, tuple[KeyLimits, float]] = {}

    async def lookup(self, raw_key: str) -> ApiKeyRecord | None:
        digest = hashlib.sha256(raw_key.encode("utf-8", "replace")).hexdigest()
        now = trio.current_time()
        hit = self._entries.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        record = await self._store.lookup_api_key(raw_key)
        if record is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[digest] = (record, now + self._ttl_s)
        return record

    async def limits(self, key_id: str) -> KeyLimits:
        """The key's rate limits, cached for the same time as the key itself."""
        now = trio.current_time()
        hit = self._limits.get(key_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        limits = await self._store.get_api_key_limits(key_id)
        if len(self._limits) >= self._max_entries:
            self._limits.clear()
        self._limits[key_id] = (limits, now + self._ttl_s)
        return limits

    def forget(self, key_id: str) -> None:
        """Drop what is cached of the key (revoked, or its limits changed elsewhere)."""
        self._limits.pop(key_id, None)
        for digest in [d for d, (record, _) in self._entries.items() if record.id == key_id]:
            del self._entries[digest]
