"""JetStream key/value buckets through the cluster transport (values are bytes; a
revision makes compare-and-set). Opened with `Transport.key_value`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue as NatsKeyValue

from .errors import TransportError
from .ids import NAME_RE
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


async def open_key_value(
    transport: Transport, js: JetStreamContext, bucket: str, ttl_s: float | None
) -> KeyValue:
    """`Transport.key_value`: the bucket `<cluster>_<bucket>`, created if missing."""
    name = bucket_name(transport.cluster, bucket)

    async def open_bucket() -> NatsKeyValue:
        try:
            return await js.key_value(name)
        except nats.js.errors.BucketNotFoundError:
            return await js.create_key_value(bucket=name, history=1, ttl=ttl_s)

    return KeyValue(transport, await transport._call(open_bucket))


async def delete_key_value(transport: Transport, js: JetStreamContext, bucket: str) -> None:
    """`Transport.delete_key_value`: delete the bucket (missing is fine)."""
    try:
        await transport._call(js.delete_key_value, bucket_name(transport.cluster, bucket))
    except TransportError as exc:
        if not isinstance(exc.__cause__, nats.js.errors.NotFoundError):
            raise


def bucket_name(cluster: str, bucket: str) -> str:
    """`<cluster>_<bucket>` (ValueError for a bucket name that is not a valid name)."""
    if not NAME_RE.match(bucket):
        raise ValueError(f"invalid bucket name {bucket!r}")
    return f"{cluster}_{bucket}"
