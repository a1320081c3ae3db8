"""Opening and closing the cluster transport: `open_transport` connects nats-py on its
own trio-asyncio loop, starts the publish drainer, and on exit publishes what is still
queued (briefly) and closes the client.

Connecting runs as a task of its own that keeps trying (nats-py retries forever, one
attempt a second). `open_transport` waits up to `connect_timeout` for it; then, with
`require`, an unreachable NATS is `TransportUnavailable`, without it the transport is
handed out unconnected (publishes shed, calls unavailable, subscriptions made on the
first connect: `transport_subs.py`) and joins the moment NATS answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats.errors
import trio
import trio_asyncio
from nats.aio.client import Client as NatsClient

from ..groups import sole_exception
from .errors import TransportUnavailable
from .ids import NAME_RE
from .transport import Transport
from .transport_records import CALL_TIMEOUT_S, redact
from .transport_subs import join

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_transport(
    url: str,
    *,
    cluster: str,
    name: str,
    connect_timeout: float = 5.0,
    require: bool = True,
) -> AsyncIterator[Transport]:
    """Connect to NATS at `url` for cluster `cluster` (subject and bucket namespace);
    `name` labels the connection on the server. When it cannot connect within
    `connect_timeout`: with `require`, raises TransportUnavailable; without, yields the
    transport unconnected and keeps trying (module docstring). Once connected, nats-py
    reconnects forever and `Transport.connected` says how it is. A malformed `url` is a
    ValueError. Everything is closed on exit."""
    if not NAME_RE.match(cluster):
        raise ValueError("cluster name must be 1-64 letters, digits, '_' or '-'")
    try:
        NatsClient._parse_server_uri(url)
    except nats.errors.Error:
        raise ValueError(f"invalid NATS URL {redact(url)!r}") from None
    try:
        async with _opened(url, cluster, name, connect_timeout, require) as transport:
            yield transport
    except BaseExceptionGroup as group:  # the trio-asyncio loop's nursery wraps errors
        sole = sole_exception(group)
        if sole is None:
            raise
        raise sole from sole.__cause__


@asynccontextmanager
async def _opened(
    url: str, cluster: str, name: str, connect_timeout: float, require: bool
) -> AsyncIterator[Transport]:
    where = redact(url)
    async with trio_asyncio.open_loop() as loop:
        nc = NatsClient()
        transport = Transport(loop, nc, cluster, name)

        async def on_disconnected() -> None:
            if transport._joined:
                transport._set_connected(False)

        async def on_reconnected() -> None:
            if transport._joined:
                transport._set_connected(True)

        async def on_error(exc: Exception) -> None:
            transport._last_error = repr(exc)
            log.debug("nats: %r", exc)

        async def connect() -> None:
            """Asyncio side: connect (retrying forever), then subscribe and go live."""
            try:
                await nc.connect(
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
                await join(transport, nc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("nats: connecting to %s failed for good", where)
                return
            log.info("nats: connected to %s as %s (cluster %s)", where, name, cluster)

        async def start() -> tuple[asyncio.Task[None], asyncio.Task[None]]:
            connecting = asyncio.ensure_future(connect())
            drainer = asyncio.ensure_future(transport._drain_queue())
            await asyncio.sleep(0)  # both have started (nats-py has set itself up)
            return connecting, drainer

        connecting, transport._drainer = await trio_asyncio.aio_as_trio(start, loop=loop)()
        try:
            with trio.move_on_after(connect_timeout):
                await transport.wait_connected()
            if not transport.connected:
                why = transport._last_error or "no answer"
                problem = f"cannot connect to NATS at {where}: {why}"
                if require:
                    raise TransportUnavailable(problem)
                log.warning(
                    "%s; serving this replica's own providers alone (degraded) and joining "
                    "the cluster when NATS answers",
                    problem,
                )
            yield transport
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT_S):
                await _close(transport, nc, loop, connecting)


async def _close(
    transport: Transport, nc: NatsClient, loop: Any, connecting: asyncio.Task[None]
) -> None:
    """Publish what is still queued (briefly), stop connecting and the drainer, close
    the client."""
    if transport._connected:
        with trio.move_on_after(1.0):
            await transport._wait_emptied()
    transport._connected = False
    transport._fail_pending(TransportUnavailable("transport closed"))

    async def stop() -> None:
        connecting.cancel()
        await asyncio.wait([connecting], timeout=1.0)
        if transport._drainer is not None:
            transport._drainer.cancel()
        try:
            await nc.close()
        except (nats.errors.Error, OSError) as exc:
            log.debug("nats: close: %r", exc)

    await trio_asyncio.aio_as_trio(stop, loop=loop)()
