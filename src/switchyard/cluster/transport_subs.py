"""Subscriptions of the cluster transport, and what happens at the first connect.

`into_channel` / `into_handler` are the callbacks nats-py runs per message (never
blocking, never raising into it).

A transport opened while NATS is unreachable (`open_transport(require=False)`) is handed
out before nats-py has connected, and everything a replica runs subscribes at start. So
until the first connect a subscription is only registered (`Deferred`); `join`, run on
the asyncio side the moment nats-py first connects, makes the reply subscription and every
registered one, then marks the transport connected. From then on subscriptions go to
nats-py at once, and nats-py renews them itself on every reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats.errors
import trio
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from .errors import TransportError
from .transport_records import Message, TransportStats

if TYPE_CHECKING:
    from .transport import Transport

log = logging.getLogger(__name__)

PENDING_BYTES_LIMIT = 8 * 1024 * 1024  # nats-py's buffer per subscription
FLUSH_TIMEOUT_S = 5  # join waits this long for the server to confirm its subscriptions


@dataclass(eq=False)
class Deferred:
    """A subscription opened before the first connect; `join` makes it."""

    subject: str
    queue: str
    on_message: Callable[[Msg], Awaitable[None]]
    sub: Any = None  # nats-py's Subscription, once made
    closed: bool = False  # its block ended (join unsubscribes it if it just made it)


@asynccontextmanager
async def subscribed(
    transport: Transport, subject: str, queue: str, on_message: Callable[[Msg], Awaitable[None]]
) -> AsyncIterator[None]:
    """`on_message` gets the messages of `subject` while the block runs (`Transport.subscribe`)."""
    nc = transport._nc
    record: Deferred | None = None
    sub: Any = None
    if transport._joined:

        async def start() -> Any:
            made = await nc.subscribe(
                subject, queue=queue, cb=on_message, pending_bytes_limit=PENDING_BYTES_LIMIT
            )
            await nc.flush()
            return made

        sub = await transport._call(start)
    else:
        record = Deferred(subject, queue, on_message)
        transport._deferred.append(record)
    try:
        yield
    finally:
        if record is not None:
            record.closed = True
            if record in transport._deferred:
                transport._deferred.remove(record)
            sub = record.sub  # None: never made (or join is making it and will drop it)
        if sub is not None:
            with trio.CancelScope(shield=True), contextlib.suppress(TransportError):
                await transport._call(sub.unsubscribe)  # closed/disconnected: server forgets


async def join(transport: Transport, nc: NatsClient) -> None:
    """Asyncio side, once nats-py has first connected: the reply subscription and every
    deferred one, then the transport is connected (nats-py's callbacks apply from now)."""
    transport._max_payload = nc.max_payload
    await nc.subscribe(f"{transport._inbox}.*", cb=transport._on_reply)
    while True:
        while transport._deferred:
            record = transport._deferred.pop(0)
            record.sub = await nc.subscribe(
                record.subject,
                queue=record.queue,
                cb=record.on_message,
                pending_bytes_limit=PENDING_BYTES_LIMIT,
            )
            if record.closed:
                await record.sub.unsubscribe()
                record.sub = None
        with contextlib.suppress(nats.errors.Error, OSError, asyncio.TimeoutError):
            await nc.flush(timeout=FLUSH_TIMEOUT_S)  # the server has them all
        if not transport._deferred:  # (more may have come while flushing)
            break
    transport._joined = True  # in the same step: no subscription falls between
    transport._set_connected(nc.is_connected)


def into_channel(
    stats: TransportStats, subject: str, send: trio.MemorySendChannel[Message]
) -> Callable[[Msg], Awaitable[None]]:
    """nats-py's callback for `Transport.subscribe`: each message into the bounded channel
    without blocking (full: shed, counted, logged once; closed: dropped)."""
    shed_logged = False

    async def on_message(msg: Msg) -> None:
        nonlocal shed_logged
        try:
            send.send_nowait(Message(msg.subject, msg.data, msg.reply or None))
            stats.received += 1
        except trio.WouldBlock:
            stats.receive_shed += 1
            if not shed_logged:
                shed_logged = True
                log.warning("nats: subscriber of %s is full; shedding messages", subject)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    return on_message


def into_handler(
    stats: TransportStats, subject: str, handler: Callable[[Message], None]
) -> Callable[[Msg], Awaitable[None]]:
    """nats-py's callback for `Transport.subscribe_calls`: `handler(message)` at once (an
    exception is logged, never raised into nats-py)."""

    async def on_message(msg: Msg) -> None:
        stats.received += 1
        try:
            handler(Message(msg.subject, msg.data, msg.reply or None))
        except Exception:
            log.exception("nats: handler of %s failed", subject)

    return on_message
