"""JetStream object stores through the cluster transport: values of any size (nats-py
splits them into 128 KiB chunks on put; a get joins them, bounded, and checks their
SHA-256), for what does not fit one NATS message. Opened with `Transport.object_store`."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

import nats.js.errors
from nats.js import JetStreamContext, api
from nats.js.object_store import ObjectStore as NatsObjectStore

from .errors import ObjectTooLarge, TransportError
from .transport_kv import bucket_name

if TYPE_CHECKING:
    from .transport import Transport

OBJECT_TIMEOUT_S = 10.0  # one put/get/delete of up to a few MiB, on a loaded machine


class ObjectStore:
    """A JetStream object store bucket (values are bytes, names any non-empty string)."""

    def __init__(
        self, transport: Transport, js: JetStreamContext, bucket: str, store: NatsObjectStore
    ) -> None:
        self._transport = transport
        self._js = js
        self._bucket = bucket  # its full name, `<cluster>_<bucket>`
        self._store = store

    async def put(self, name: str, data: bytes, *, timeout: float = OBJECT_TIMEOUT_S) -> None:
        """Store `data` under `name` (replacing any). Raises TransportError (e.g. the
        bucket is full)."""
        await self._transport._call(self._store.put, name, data, timeout=timeout)
        self._transport.stats.objects_put += 1

    async def get(
        self, name: str, *, max_bytes: int, timeout: float = OBJECT_TIMEOUT_S
    ) -> bytes | None:
        """The object `name`, or None if it is absent (never stored, deleted, expired).
        Raises ObjectTooLarge (not read) when it is over `max_bytes`."""

        async def bounded_get() -> bytes:
            info = await self._store.get_info(name)
            if (info.size or 0) > max_bytes:
                raise ObjectTooLarge(f"object {name!r} is {info.size} bytes, over {max_bytes}")
            return await self._chunks(info, max_bytes)

        try:
            data = await self._transport._call(bounded_get, timeout=timeout)
        except TransportError as exc:
            if isinstance(exc.__cause__, nats.js.errors.NotFoundError):
                return None
            raise
        self._transport.stats.objects_got += 1
        return data

    async def _chunks(self, info: api.ObjectInfo, max_bytes: int) -> bytes:
        """Asyncio side: the object's chunks joined and checked against its digest. Read
        here rather than by nats-py's `get`, which leaves its chunk subscription open when
        cancelled (a timed-out get would leak one subscription, and its buffer, each)."""
        if not info.size:
            return b""
        subject = f"$O.{self._bucket}.C.{info.nuid}"
        sub = await self._js.subscribe(subject, ordered_consumer=True)
        data = bytearray()
        try:
            async for msg in sub.messages:
                data += msg.data
                if len(data) > max_bytes:
                    raise ObjectTooLarge(f"object {info.name!r} grew over {max_bytes} bytes")
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        digest = (info.digest or "").split("=", 1)[-1]
        if hashlib.sha256(data).digest() != base64.urlsafe_b64decode(digest + "=="):
            raise nats.js.errors.DigestMismatchError()
        return bytes(data)

    async def delete(self, name: str, *, timeout: float = OBJECT_TIMEOUT_S) -> None:
        """Remove `name` and its chunks (absent is fine)."""
        try:
            await self._transport._call(self._store.delete, name, timeout=timeout)
        except TransportError as exc:
            if isinstance(exc.__cause__, nats.js.errors.NotFoundError):
                return
            raise
        self._transport.stats.objects_deleted += 1


async def open_object_store(
    transport: Transport, js: JetStreamContext, bucket: str, ttl_s: float, max_bytes: int
) -> ObjectStore:
    """`Transport.object_store`: the bucket `<cluster>_<bucket>`, created if missing."""
    name = bucket_name(transport.cluster, bucket)

    async def open_bucket() -> NatsObjectStore:
        try:
            return await js.object_store(name)
        except nats.js.errors.BucketNotFoundError:
            config = api.ObjectStoreConfig(bucket=name, ttl=ttl_s, max_bytes=max_bytes)
            return await js.create_object_store(name, config=config)

    return ObjectStore(transport, js, name, await transport._call(open_bucket))


async def delete_object_store(transport: Transport, js: JetStreamContext, bucket: str) -> None:
    """`Transport.delete_object_store`: delete the bucket (missing is fine)."""
    try:
        await transport._call(js.delete_object_store, bucket_name(transport.cluster, bucket))
    except TransportError as exc:
        if not isinstance(exc.__cause__, nats.js.errors.NotFoundError):
            raise
