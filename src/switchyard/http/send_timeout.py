"""A bound on every socket write the HTTP server makes: a peer that stops reading is cut off.

hypercorn writes with `send_all` inside a shielded cancel scope and has no write timeout,
so a client that never reads would hold its connection and request task until it closes
the socket (no response timeout can cancel a shielded write). `serve` runs hypercorn with
each accepted TCP stream wrapped in `BoundedSendStream`: a `send_all` not done within
`send_timeout_s` closes the socket and raises `BrokenResourceError`, which hypercorn
handles as the client having gone (the request is cancelled and cleaned up). It covers
consumer responses and provider WebSockets alike.

Writes are the per-token path, so a write costs no cancel scope: it only records when it
started, and one watchdog task per connection looks every `timeout / 8` (at most 5 s)
for a write that has been pending longer than the timeout, then closes the socket under
it (a stalled write is thus cut off between `timeout` and `1.125 * timeout`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import hypercorn.trio.run
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.trio.tcp_server import TCPServer

log = logging.getLogger(__name__)


class ServerConfig(Config):
    """hypercorn's Config plus the write bound (None: unbounded, as hypercorn is)."""

    send_timeout_s: float | None = None


class BoundedSendStream(trio.abc.HalfCloseableStream):
    """A `trio.SocketStream` whose `send_all` gives up (and closes) after `timeout` s."""

    def __init__(self, stream: trio.SocketStream, timeout: float) -> None:
        self.stream = stream
        self.timeout = timeout
        self._sending_since: float | None = None
        self._timed_out = False

    @property
    def socket(self) -> trio.socket.SocketType:
        return self.stream.socket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._sending_since = trio.current_time()
        try:
            await self.stream.send_all(data)
        except trio.ClosedResourceError:
            if self._timed_out:  # closed under us by `watch`: the peer is gone, say so
                raise trio.BrokenResourceError("send timed out") from None
            raise
        finally:
            self._sending_since = None

    async def watch(self) -> None:
        """Close the socket under a write pending longer than the timeout; runs until
        cancelled (the connection's end) or until it has closed the socket."""
        interval = min(max(self.timeout / 8, 0.01), 5.0)
        while True:
            await trio.sleep(interval)
            since = self._sending_since
            if since is not None and trio.current_time() - since >= self.timeout:
                log.info("send timed out after %.1f s: closing the connection", self.timeout)
                self._timed_out = True
                await trio.aclose_forcefully(self.stream)
                return

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.stream.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()


class _BoundedTCPServer(TCPServer):
    """hypercorn's connection handler, on a `BoundedSendStream` when the config asks."""

    def __init__(self, app: Any, config: Config, context: Any, state: Any, stream: Any) -> None:
        timeout = getattr(config, "send_timeout_s", None)
        self._bounded: BoundedSendStream | None = None
        if timeout is not None and isinstance(stream, trio.SocketStream):
            stream = self._bounded = BoundedSendStream(stream, timeout)
        super().__init__(app, config, context, state, stream)

    async def run(self) -> None:
        bounded = self._bounded
        if bounded is None:
            await super().run()
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bounded.watch)
            try:
                await super().run()
            finally:
                nursery.cancel_scope.cancel()


async def serve(
    app: Any,
    config: ServerConfig,
    *,
    shutdown_trigger: Callable[..., Awaitable[None]],
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """`hypercorn.trio.serve` with bounded writes (see the module docstring).

    hypercorn offers no hook for the accepted stream, so its connection handler class is
    replaced by a subclass that only differs for configs carrying `send_timeout_s`.
    """
    hypercorn.trio.run.TCPServer = _BoundedTCPServer  # type: ignore[misc]
    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)


__all__ = ["BoundedSendStream", "ServerConfig", "serve"]
