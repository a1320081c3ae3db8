"""Opening and closing the cluster transport: `open_transport` connects nats-py on its
own trio-asyncio loop, starts the reply subscription and the publish drainer, and on exit
publishes what is still queued (briefly) and closes the client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats
import nats.errors
import trio
import trio_asyncio
from nats.aio.client import Client as NatsClient

from ..groups import sole_exception
from .errors import TransportUnavailable
from .ids import NAME_RE
from .transport import Transport
from .transport_records import CALL_TIMEOUT_S, redact

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_transport(
    url: str, *, cluster: str, name: str, connect_timeout: float = 5.0
) -> AsyncIterator[Transport]:
    """Connect to NATS at `url` for cluster `cluster` (subject and bucket namespace);
    `name` labels the connection on the server. Raises TransportUnavailable when it
    cannot connect within `connect_timeout`; afterwards nats-py reconnects forever and
    `Transport.connected` says how it is. Everything is closed on exit."""
    if not NAME_RE.match(cluster):
        raise ValueError("cluster name must be 1-64 letters, digits, '_' or '-'")
    try:
        async with _opened(url, cluster, name, connect_timeout) as transport:
            yield transport
    except BaseExceptionGroup as group:  # the trio-asyncio loop's nursery wraps errors
        sole = sole_exception(group)
        if sole is None:
            raise
        raise sole from sole.__cause__


@asynccontextmanager
async def _opened(
    url: str, cluster: str, name: str, connect_timeout: float
) -> AsyncIterator[Transport]:
    async with trio_asyncio.open_loop() as loop:
        holder: list[Transport] = []

        async def on_disconnected() -> None:
            if holder:
                holder[0]._set_connected(False)

        async def on_reconnected() -> None:
            if holder:
                holder[0]._set_connected(True)

        async def on_error(exc: Exception) -> None:
            log.debug("nats: %r", exc)

        async def connect() -> NatsClient:
            return await nats.connect(
                url,
                name=name,
                connect_timeout=max(1, int(connect_timeout)),
                reconnect_time_wait=1,
                max_reconnect_attempts=-1,
                ping_interval=5,
                max_outstanding_pings=2,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                closed_cb=on_disconnected,
                error_cb=on_error,
            )

        connecting = trio_asyncio.aio_as_trio(connect, loop=loop)
        try:
            with trio.fail_after(connect_timeout):
                nc = await connecting()
        except (trio.TooSlowError, OSError, nats.errors.Error) as exc:
            where = redact(url)
            raise TransportUnavailable(f"cannot connect to NATS at {where}: {exc!r}") from exc
        transport = Transport(loop, nc, cluster, name)
        holder.append(transport)

        async def start() -> asyncio.Task[None]:
            await nc.subscribe(f"{transport._inbox}.*", cb=transport._on_reply)
            return asyncio.ensure_future(transport._drain_queue())

        try:
            transport._drainer = await trio_asyncio.aio_as_trio(start, loop=loop)()
            log.info("nats: connected to %s as %s (cluster %s)", redact(url), name, cluster)
            yield transport
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT_S):
                await _close(transport, nc, loop)


async def _close(transport: Transport, nc: NatsClient, loop: Any) -> None:
    """Publish what is still queued (briefly), stop the drainer, close the client."""
    if transport._connected:
        with trio.move_on_after(1.0):
            await transport._wait_emptied()
    transport._connected = False
    transport._fail_pending(TransportUnavailable("transport closed"))

    async def stop() -> None:
        if transport._drainer is not None:
            transport._drainer.cancel()
        try:
            await nc.close()
        except (nats.errors.Error, OSError) as exc:
            log.debug("nats: close: %r", exc)

    await trio_asyncio.aio_as_trio(stop, loop=loop)()
