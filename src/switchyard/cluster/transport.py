"""The cluster transport: NATS (nats-py) used from trio, crossing the bridge in bulk.

nats-py is asyncio-only; it runs on its own trio-asyncio loop, like the Postgres store.
One `aio_as_trio` crossing costs ~88 µs, so the hot paths never cross per message:

- `publish` drives nats-py's `publish` coroutine to its end in the caller's step (it only
  appends to nats-py's write buffer; the flusher sends it). When it cannot (drainer not
  started, over `DIRECT_PUBLISH_BYTES` unflushed, nats-py's buffer full), the message
  joins a bounded queue that the drainer, an asyncio task, publishes in order. A full
  queue or a disconnected client sheds the message and counts it (`stats`).
- subscription callbacks only `send_nowait` into a bounded trio channel (full: shed and
  counted, never `WouldBlock` inside nats-py), or, with `subscribe_calls`, hand the
  message to a synchronous handler (e.g. one that tells an actor).
- `request` / `send_request` publish with a reply subject under this transport's own
  inbox subscription; the reply (or "no responders") wakes the waiter. No crossing.

Subscribing, KV and object-store calls and closing do cross (they are rare). Opening and
closing are `transport_open.py` (connecting keeps trying in the background when NATS is
unreachable at start), subscriptions `transport_subs.py` (made on the first connect when
opened before it), KV buckets `transport_kv.py`, object stores `transport_objects.py`,
the records `transport_records.py`, nats-py's errors as ours `transport_errors.py`.
Subjects are namespaced (`subject("a", "b")` is `"<cluster>.a.b"`, buckets
`<cluster>_<bucket>`), so clusters never meet.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
import trio
import trio_asyncio
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from .errors import (
    MessageTooLarge,
    TransportError,
    TransportTimeout,
    TransportUnavailable,
)
from .transport_errors import translated_errors
from .transport_kv import KeyValue, delete_key_value, open_key_value
from .transport_objects import ObjectStore, delete_object_store, open_object_store
from .transport_records import (
    CALL_TIMEOUT_S,
    DIRECT_PUBLISH_BYTES,
    MAX_PENDING_REQUESTS,
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    NO_RESPONDERS,
    Entry,
    Message,
    PendingRequest,
    ReplyCallback,
    Resume,
    TransportStats,
    check_token,
    redact,
)
from .transport_subs import Deferred, into_channel, into_handler, subscribed

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = [
    "Entry",
    "KeyValue",
    "Message",
    "ObjectStore",
    "PendingRequest",
    "Transport",
    "TransportStats",
    "redact",
]


class Transport:
    """A connection to NATS for one replica; open it with `open_transport`."""

    def __init__(self, loop: Any, nc: NatsClient, cluster: str, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.stats = TransportStats()
        self.connected_since: float | None = None  # monotonic time of the current connect
        self._loop = loop
        self._nc = nc
        self._connected = False  # set by the first connect (transport_subs.join)
        self._ever_connected = False
        self._joined = False  # subscriptions go straight to nats-py (else: _deferred)
        self._deferred: list[Deferred] = []  # subscriptions waiting for the first connect
        self._last_error = ""  # nats-py's last connection error (for the log)
        self._status_event = trio.Event()
        self._queue: deque[tuple[str, bytes, str]] = deque()
        self._queued_bytes = 0
        self._wake: asyncio.Event | None = None  # created on the asyncio side
        self._finishing = 0  # publishes handed to nats-py that wait for its flusher
        self._drainer: asyncio.Task[None] | None = None
        self._emptied = trio.Event()  # set by the drainer each time the queue empties
        self._inbox = f"_INBOX.{cluster}.{secrets.token_hex(8)}"
        self._pending: dict[str, PendingRequest] = {}
        self._next_request = 0
        self._max_payload = nc.max_payload
        self.max_queued_messages = MAX_QUEUED_MESSAGES
        self.max_queued_bytes = MAX_QUEUED_BYTES
        self.direct_publish_bytes = DIRECT_PUBLISH_BYTES

    # -- names and status ------------------------------------------------------------

    def subject(self, *parts: str) -> str:
        """`cluster.part1.part2...`; each part must be one token (no dots, spaces, wildcards)."""
        return ".".join([self.cluster, *(check_token(p) for p in parts)])

    @property
    def max_payload(self) -> int:
        """The largest message the server takes (its `max_payload`, known once connected)."""
        return int(self._max_payload)

    @property
    def connected(self) -> bool:
        return self._connected

    def status_changed(self) -> trio.Event:
        """An event set at the next connect/disconnect (wait on it, then read `connected`)."""
        return self._status_event

    async def wait_connected(self, connected: bool = True) -> None:
        """Return once `connected` has the wanted value."""
        while self._connected != connected:
            await self._status_event.wait()

    @property
    def ever_connected(self) -> bool:
        """False until the first connect (a replica started while NATS was unreachable)."""
        return self._ever_connected

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        self.connected_since = time.monotonic() if connected else None
        if connected:
            if self._ever_connected:
                self.stats.reconnects += 1
                log.info("nats: reconnected (%s)", self.name)
            self._ever_connected = True
        else:
            self.stats.disconnects += 1
            log.warning("nats: disconnected (%s)", self.name)
            self._fail_pending(TransportUnavailable("NATS connection lost"))
        event, self._status_event = self._status_event, trio.Event()
        event.set()

    # -- publishing --------------------------------------------------------------------

    def publish(self, subject: str, data: bytes) -> None:
        """Queue `data` for `subject`; never blocks. Sheds (and counts) when full or offline."""
        self._enqueue(subject, data, "")

    def reply(self, message: Message, data: bytes) -> None:
        """Answer a request message (a message without a reply subject is ignored)."""
        if message.reply:
            self._enqueue(message.reply, data, "")

    def _enqueue(self, subject: str, data: bytes, reply: str) -> bool:
        if "*" in subject or ">" in subject:
            raise ValueError(f"cannot publish to the wildcard subject {subject!r}")
        if len(data) > self._max_payload:
            raise MessageTooLarge(f"{len(data)} bytes is over NATS max_payload {self._max_payload}")
        if (
            not self._connected
            or len(self._queue) >= self.max_queued_messages
            or self._queued_bytes + len(data) > self.max_queued_bytes
        ):
            self.stats.publish_shed += 1
            return False
        if (
            not self._queue
            and not self._finishing
            and self._nc.pending_data_size + len(data) <= self.direct_publish_bytes
            and self._publish_now(subject, data, reply)
        ):
            return True
        self._queue.append((subject, data, reply))
        self._queued_bytes += len(data)
        wake = self._wake
        if wake is not None and not wake.is_set():
            wake.set()  # schedules the drainer's wake-up on the asyncio loop (no crossing)
        return True

    def _publish_now(self, subject: str, data: bytes, reply: str) -> bool:
        """Hand one message to nats-py in this step, without a crossing: `nc.publish` only
        appends to nats-py's buffer and kicks its flusher, so its coroutine is driven here
        to its end (under this transport's loop, which asyncio's lookups then find). If
        nats-py has to wait (its buffer is over its limit) an asyncio task finishes it,
        and later messages go through the queue until it has. False: not handed over
        (the drainer's task has not started yet)."""
        if self._wake is None:
            return False
        token = trio_asyncio.current_loop.set(self._loop)
        try:
            coro = self._nc.publish(subject, data, reply=reply)
            try:
                waiting = coro.send(None)
            except StopIteration:
                self.stats.published += 1
                return True
            except (nats.errors.Error, OSError):
                self.stats.publish_errors += 1
                return True
            except Exception:
                self.stats.publish_errors += 1
                log.exception("nats: publishing to %s failed", subject)
                return True
            self._finishing += 1
            self._loop.create_task(self._finish_publish(Resume(coro, waiting)))
            return True
        finally:
            trio_asyncio.current_loop.reset(token)

    async def _finish_publish(self, resume: Resume) -> None:
        """Asyncio side: let a publish that had to wait for nats-py's flusher finish."""
        try:
            await resume
        except (nats.errors.Error, OSError):
            self.stats.publish_errors += 1
        except Exception:
            self.stats.publish_errors += 1
            log.exception("nats: a publish failed")
        else:
            self.stats.published += 1
        finally:
            self._finishing -= 1

    async def _drain_queue(self) -> None:
        """Asyncio side: publish everything queued, then sleep until woken."""
        self._wake = asyncio.Event()
        nc = self._nc
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                subject, data, reply = self._queue.popleft()
                self._queued_bytes -= len(data)
                try:
                    await nc.publish(subject, data, reply=reply)
                except (nats.errors.Error, OSError):
                    self.stats.publish_errors += 1
                except Exception:  # never let one message stop the drainer
                    self.stats.publish_errors += 1
                    log.exception("nats: publishing to %s failed", subject)
                else:
                    self.stats.published += 1
            emptied, self._emptied = self._emptied, trio.Event()
            emptied.set()

    async def flush(self, timeout: float = CALL_TIMEOUT_S) -> None:
        """Wait until everything published so far has reached the server."""
        with trio.move_on_after(timeout) as scope:
            await self._wait_emptied()
        if scope.cancelled_caught:
            raise TransportTimeout("publish queue not drained in time")
        await self._call(self._nc.flush, timeout)

    async def _wait_emptied(self) -> None:
        while self._queue:
            await self._emptied.wait()

    # -- request/reply -----------------------------------------------------------------

    async def request(self, subject: str, data: bytes, *, timeout: float) -> bytes:
        """Send `data` and wait for one reply. Raises TransportTimeout, or
        TransportUnavailable when disconnected, with nobody subscribed, or overloaded."""
        return await self.send_request(subject, data).wait(timeout)

    def send_request(
        self, subject: str, data: bytes, on_reply: ReplyCallback | None = None
    ) -> PendingRequest:
        """Queue a request now (no checkpoint) and return its `PendingRequest`; call its
        `wait` (which also bounds how long it stays registered). Raises
        TransportUnavailable (disconnected, overloaded) or MessageTooLarge at once."""
        if len(self._pending) >= MAX_PENDING_REQUESTS:
            raise TransportUnavailable("too many requests in flight")
        self._next_request += 1
        token = format(self._next_request, "x")
        waiter = PendingRequest(self, token, subject, on_reply)
        if not self._enqueue(subject, data, f"{self._inbox}.{token}"):
            raise TransportUnavailable(
                "NATS not connected" if not self._connected else "publish queue full"
            )
        self._pending[token] = waiter
        self.stats.requests += 1
        return waiter

    async def _on_reply(self, msg: Msg) -> None:
        """Asyncio side: a reply (or a no-responders status) for one of our requests."""
        waiter = self._pending.get(msg.subject.rpartition(".")[2])
        if waiter is None:
            return  # the asker gave up already
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            self.stats.no_responders += 1
            waiter._deliver(b"", TransportUnavailable(f"no responders on {msg.subject}"))
        else:
            waiter._deliver(msg.data, None)

    def _fail_pending(self, error: TransportError) -> None:
        for waiter in list(self._pending.values()):
            waiter._deliver(b"", error)

    # -- subscriptions -----------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self, subject: str, *, queue: str | None = None, buffer: int = 1024
    ) -> AsyncIterator[trio.MemoryReceiveChannel[Message]]:
        """Messages on `subject` (wildcards allowed) in a bounded channel, while open.

        With `queue`, each message goes to one member of that queue group. When the
        channel is full, new messages are shed and counted (`stats.receive_shed`).
        """
        send, receive = trio.open_memory_channel[Message](buffer)
        on_message = into_channel(self.stats, subject, send)
        async with self._subscribed(subject, queue, on_message):
            try:
                yield receive
            finally:
                send.close()

    @asynccontextmanager
    async def subscribe_calls(
        self, subject: str, handler: Callable[[Message], None]
    ) -> AsyncIterator[None]:
        """Call `handler(message)` for each message on `subject`, while open.

        The handler runs synchronously on the asyncio side, the moment nats-py hands the
        message over: it must only pass the message on without blocking (e.g.
        `ActorRef.tell`, shedding and counting when that is full) and not raise. This
        saves the scheduling round of a task draining a channel (`subscribe`).
        """
        on_message = into_handler(self.stats, subject, handler)
        async with self._subscribed(subject, None, on_message):
            yield

    def _subscribed(
        self, subject: str, queue: str | None, on_message: Callable[[Msg], Awaitable[None]]
    ) -> AbstractAsyncContextManager[None]:
        return subscribed(self, subject, queue or "", on_message)

    # -- JetStream key/value and object stores --------------------------------------

    async def key_value(self, bucket: str, *, ttl_s: float | None = None) -> KeyValue:
        """The bucket `<cluster>_<bucket>`, created (history 1, values expiring after
        `ttl_s` if given) if missing; an existing bucket is used as it is."""
        return await open_key_value(self, self._nc.jetstream(), bucket, ttl_s)

    async def delete_key_value(self, bucket: str) -> None:
        """Delete the bucket `<cluster>_<bucket>` and everything in it (missing is fine)."""
        await delete_key_value(self, self._nc.jetstream(), bucket)

    async def object_store(self, bucket: str, *, ttl_s: float, max_bytes: int) -> ObjectStore:
        """The object store `<cluster>_<bucket>`, created if missing (objects expire after
        `ttl_s`; puts past `max_bytes` in all are refused); an existing one as it is."""
        return await open_object_store(self, self._nc.jetstream(), bucket, ttl_s, max_bytes)

    async def delete_object_store(self, bucket: str) -> None:
        """Delete the object store `<cluster>_<bucket>` and its objects (missing is fine)."""
        await delete_object_store(self, self._nc.jetstream(), bucket)

    # -- crossing the bridge -----------------------------------------------------------

    async def _call(
        self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = CALL_TIMEOUT_S
    ) -> T:
        """Run an asyncio call of nats-py; its errors become TransportError subclasses."""
        if not self._connected:
            raise TransportUnavailable("NATS not connected")
        try:
            with trio.fail_after(timeout), translated_errors():
                result: T = await trio_asyncio.aio_as_trio(fn, loop=self._loop)(*args)
                return result
        except trio.TooSlowError:
            raise TransportTimeout(f"NATS call took over {timeout:g}s") from None
