"""JetStream key/value buckets through the cluster transport (values are bytes; a
revision makes compare-and-set). Opened with `Transport.key_value`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import nats.js.errors
from nats.js.kv import KeyValue as NatsKeyValue

from .errors import TransportError
from .transport_records import Entry, check_key

if TYPE_CHECKING:
    from .transport import Transport


class KeyValue:
    """A JetStream KV bucket (values are bytes; revisions make compare-and-set)."""

    def __init__(self, transport: Transport, kv: NatsKeyValue) -> None:
        self._transport = transport
        self._kv = kv

    async def get(self, key: str) -> Entry | None:
        """The current value and revision, or None if the key is absent (or deleted)."""
        try:
            entry = await self._transport._call(self._kv.get, check_key(key))
        except TransportError as exc:
            if isinstance(exc.__cause__, nats.js.errors.NotFoundError):
                return None
            raise
        return Entry(entry.value or b"", entry.revision or 0)

    async def create(self, key: str, value: bytes) -> int:
        """Store `value` only if `key` is absent; its revision. Raises KeyValueConflict."""
        return await self._transport._call(self._kv.create, check_key(key), value)

    async def update(self, key: str, value: bytes, revision: int) -> int:
        """Store `value` only if the key is still at `revision`. Raises KeyValueConflict."""
        return await self._transport._call(self._kv.update, check_key(key), value, revision)

    async def put(self, key: str, value: bytes) -> int:
        """Store `value` unconditionally; its revision."""
        return await self._transport._call(self._kv.put, check_key(key), value)

    async def delete(self, key: str) -> None:
        """Remove `key` (absent is fine)."""
        await self._transport._call(self._kv.delete, check_key(key))
