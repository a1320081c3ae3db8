"""A TCP proxy in front of NATS that a test can cut and restore (NATS "going away").

    async with nats_proxy(nats_url) as proxy:        # proxy.url: nats://127.0.0.1:PORT
        ... connect through proxy.url ...
        proxy.cut()                                  # drop every connection, refuse new
        proxy.restore()                              # accept again (clients reconnect)

Only the shared server is real; the proxy stands in for a network failure, so the shared
nats-server other engineers' tests use is never stopped.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio


class NatsProxy:
    """Forwards connections to the real server while `up`; see the module docstring."""

    def __init__(self, target: tuple[str, int], nursery: trio.Nursery) -> None:
        self.target = target
        self.url = ""
        self.up = True
        self.connections = 0
        self._nursery = nursery
        self._scope = trio.CancelScope()

    def cut(self) -> None:
        """Close every proxied connection and refuse new ones until `restore`."""
        self.up = False
        self._scope.cancel()
        self._scope = trio.CancelScope()

    def restore(self) -> None:
        self.up = True

    async def _handle(self, client: trio.SocketStream) -> None:
        async with client:
            if not self.up:
                return
            scope = self._scope
            with scope:
                upstream = await trio.open_tcp_stream(*self.target)
                self.connections += 1
                async with upstream, trio.open_nursery() as nursery:
                    nursery.start_soon(_pump, client, upstream, nursery.cancel_scope)
                    nursery.start_soon(_pump, upstream, client, nursery.cancel_scope)


async def _pump(src: trio.SocketStream, dst: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        while data := await src.receive_some(65536):
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    done.cancel()


@asynccontextmanager
async def nats_proxy(nats_url: str) -> AsyncIterator[NatsProxy]:
    parts = urlsplit(nats_url)
    target = (parts.hostname or "127.0.0.1", parts.port or 4222)
    async with trio.open_nursery() as nursery:
        proxy = NatsProxy(target, nursery)
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        listeners = await nursery.start(serve, proxy._handle, 0)
        port = listeners[0].socket.getsockname()[1]
        proxy.url = f"nats://127.0.0.1:{port}"
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
