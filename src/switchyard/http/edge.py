"""The HTTP edge: an ASGI middleware between hypercorn and the Quart app.

It keeps HTTP/1.1 connections sound whatever a route does, in one place:

- **Request heads** over `MAX_REQUEST_HEAD_BYTES` get 431 and `Connection: close`. hypercorn's
  `h11_max_incomplete_size` only bounds a head that is still incomplete when a read ends;
  one that completes within the next read (up to 64 KiB later) would get through.
- **Early answers**: a route may answer (401, 404, 413, 503…) before the request body has
  arrived. The response then waits, up to `DRAIN_TIMEOUT_S`, until the body is in (the app
  reads it in the background) so the connection can serve the next request. A body that
  declares or reaches more than the body limit, or does not arrive in time, is not waited
  for: the response carries `Connection: close` instead.
- **The last message of every response is sent shielded.** hypercorn finishes the
  exchange inside that `send` call: it recycles the connection for the next request, or
  closes it when the request body is unfinished. quart-trio cancels the handler as soon
  as hypercorn reports the exchange over (`http.disconnect`, delivered from within that
  same call), and that cancellation used to land in hypercorn's bookkeeping: the close
  (or the restart of the keep-alive timer) never happened, and a reused connection hung.
"""

from __future__ import annotations

import json
import logging

import trio
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Scope,
    WWWScope,
)

from ..protocol.errors import request_header_too_large
from ..protocol.limits import MAX_REQUEST_HEAD_BYTES
from .errors import error_body

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 5.0  # how long an early answer waits for the rest of the request body
FINAL_SEND_TIMEOUT_S = 10.0  # bound on the shielded last message of a response
CLOSE_HEADER = (b"connection", b"close")


def head_bytes(scope: WWWScope) -> int:
    """Size of the request head as parsed: request line, header lines, blank line."""
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 1
    method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
    line = len(method) + target + len(" HTTP/1.1\r\n")
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"]) + 2


def _declared_length(scope: HTTPScope) -> tuple[int | None, bool]:
    """(Content-Length or None, whether the request has a body at all)."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked or bool(length)


class RequestBody:
    """Watches the request body go by on its way to the app: how much, and whether done."""

    def __init__(self, scope: HTTPScope, receive: ASGIReceiveCallable, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._settled = trio.Event()  # complete, over the limit, or the client left
        declared, has_body = _declared_length(scope)
        self.received = 0
        self.complete = not has_body
        self.over_limit = declared is not None and declared > limit
        if self.complete or self.over_limit:
            self._settled.set()

    async def receive(self) -> ASGIReceiveEvent:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
                self._settled.set()
            elif self.received > self._limit:
                self.over_limit = True
                self._settled.set()
        elif message["type"] == "http.disconnect":
            self._settled.set()
        return message

    async def drained(self, timeout: float) -> bool:
        """Wait (up to `timeout`) for the body to finish; True when it did."""
        if not self._settled.is_set():
            with trio.move_on_after(timeout):
                await self._settled.wait()
        return self.complete


class EdgeMiddleware:
    """Wraps the Quart app's ASGI callable (see the module docstring)."""

    def __init__(self, app: ASGIFramework, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if head_bytes(scope) > MAX_REQUEST_HEAD_BYTES:
            await _refuse_head(scope, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        body = RequestBody(scope, receive, self.max_body_bytes)

        async def edge_send(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                if not await body.drained(DRAIN_TIMEOUT_S):
                    headers = [*message.get("headers", ()), CLOSE_HEADER]
                    closing: HTTPResponseStartEvent = {**message, "headers": headers}
                    message = closing
                await send(message)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                with trio.move_on_after(FINAL_SEND_TIMEOUT_S, shield=True):
                    await send(message)
            else:
                await send(message)

        await self.app(scope, body.receive, edge_send)


async def _refuse_head(scope: WWWScope, send: ASGISendCallable) -> None:
    """431 with a typed body, and the connection closed."""
    size = head_bytes(scope)
    log.info("refused a %d byte request head on %s", size, scope.get("path"))
    exc = request_header_too_large(MAX_REQUEST_HEAD_BYTES)
    payload = json.dumps(error_body(exc, scope.get("path", ""))).encode()
    headers = [(b"content-type", b"application/json"), CLOSE_HEADER]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 431, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})
    else:  # a WebSocket handshake refused with an HTTP response
        await send({"type": "websocket.http.response.start", "status": 431, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": payload, "more_body": False})
