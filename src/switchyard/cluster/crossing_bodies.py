"""CrossingBodies: request bodies too large for one NATS message, on their way to the
replica that owns the provider.

A dispatch request (`routing_wire.dump_dispatch`) normally carries the whole body. When
that message would be over the server's `max_payload` (1 MiB by default: a couple of
base64 images), the consumer's replica puts the body into the JetStream object store
`<cluster>_bodies` under `<origin>.<request_id>` and sends the same dispatch request with
`body_stored` instead of the body; the owner fetches it from there. Small bodies keep
the single message: no extra round trip.

Why an object store, not chunks on a per-request subject: nats-py chunks and reassembles
(128 KiB pieces, SHA-256 checked) and JetStream acknowledges every chunk, so there is no
flow control, ordering, loss or retransmission to write here; the body is stored before
the dispatch request leaves, so the owner never waits on a stream the sender may still
be producing; and the stream behind the bucket bounds everything on the server: at most
`CROSSING_BODIES_BYTES` in all (puts beyond are refused: that provider is skipped) and
every object expires after `CROSSING_BODY_TTL_S`, so a body is gone even if its replica
dies between put and get.

Ordering and lifetime:
1. the origin puts the body (before the dispatch request: the owner confirms a slot and
   then reads at once, so a slot is never held while an upload is still running);
2. the owner confirms the slot as for any remote request, then fetches the body (a
   missing or expired one, or one over `MAX_REQUEST_BODY_JSON_BYTES`, is a refusal: the
   slot is released and the relay tries the next candidate), then dispatches and answers;
3. the origin deletes the body as soon as the dispatch is answered (served, refused or
   timed out: the owner answers `ok` only after it has read it), or when the consumer
   left before it was sent; anything the origin could not delete (it died, NATS went
   away) expires with the TTL.

The bucket is opened on first use, so a replica that starts while NATS is away opens it
once NATS is back.
"""

from __future__ import annotations

import logging

from ..protocol.limits import (
    CROSSING_BODIES_BYTES,
    CROSSING_BODY_TTL_S,
    MAX_REQUEST_BODY_JSON_BYTES,
)
from .errors import ObjectTooLarge, TransportError
from .transport import ObjectStore, Transport

log = logging.getLogger(__name__)

BUCKET = "bodies"


def object_name(origin: str, request_id: str) -> str:
    """Where the body of `request_id` from replica `origin` is stored."""
    return f"{origin}.{request_id}"


class BodyMissing(TransportError):
    """The stored body is not there (expired, deleted, never stored) or not acceptable."""


class CrossingBodies:
    """The `bodies` object store of one replica's transport (see the module docstring)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._store: ObjectStore | None = None

    async def _opened(self) -> ObjectStore:
        if self._store is None:  # two first users may both open it: that is harmless
            self._store = await self.transport.object_store(
                BUCKET, ttl_s=CROSSING_BODY_TTL_S, max_bytes=CROSSING_BODIES_BYTES
            )
        return self._store

    async def put(self, origin: str, request_id: str, body_json: str) -> None:
        """Store the body. Raises TransportError (NATS away, the bucket full)."""
        store = await self._opened()
        try:
            await store.put(object_name(origin, request_id), body_json.encode())
        except TransportError:
            self._store = None  # (the bucket may be gone: open or create it again next time)
            raise

    async def fetch(self, origin: str, request_id: str) -> str:
        """The stored body. Raises BodyMissing, or TransportError (NATS away)."""
        store = await self._opened()
        name = object_name(origin, request_id)
        try:  # UTF-8: up to 4 bytes a character (the limit counts characters, as on the wire)
            data = await store.get(name, max_bytes=4 * MAX_REQUEST_BODY_JSON_BYTES)
        except ObjectTooLarge as exc:
            raise BodyMissing(str(exc)) from exc
        if data is None:
            raise BodyMissing(f"the request body {name} is gone (expired or never stored)")
        try:
            body = data.decode()
        except UnicodeDecodeError:
            raise BodyMissing(f"the request body {name} is not UTF-8") from None
        if len(body) > MAX_REQUEST_BODY_JSON_BYTES:
            raise BodyMissing(f"the request body {name} is over the request body limit")
        return body

    async def discard(self, origin: str, request_id: str) -> None:
        """Delete the body (absent is fine); a failure is logged, the TTL has it then."""
        try:
            store = await self._opened()
            await store.delete(object_name(origin, request_id))
        except TransportError as exc:
            log.info("request body %s not deleted (it expires): %s", request_id, exc)


__all__ = ["BUCKET", "BodyMissing", "CrossingBodies", "object_name"]
