"""A minimal coordinator peer for agent tests, written directly on trio-websocket.

It checks the path and bearer token, parses every provider frame with the real protocol
parser (a malformed frame from the agent fails the test), answers `register` with
`registered`, and records everything each connection sends so tests can wait on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from switchyard.protocol.frames import (
    ChunkBatchFrame,
    ChunkFrame,
    CompleteFrame,
    ErrorFrame,
    Frame,
    RegisteredFrame,
    RegisterFrame,
    dump_frame,
    parse_provider_frame,
)
from switchyard.protocol.signing import provider_id_for

from ..polling import wait_until

T = TypeVar("T")
WAIT_S = 10.0


class FakeConn:
    """One accepted agent connection and everything it sent after `register`."""

    def __init__(self, ws: WebSocketConnection, register: RegisterFrame, path: str, auth: str):
        self.ws = ws
        self.register = register
        self.path = path
        self.auth = auth
        self.provider_id = provider_id_for(register.public_key)
        self.log: list[Any] = []
        self.batches = 0  # chunk_batch frames received
        self.closed = trio.Event()
        self.close_code: int | None = None

    def _append(self, frame: Any) -> None:
        """Log a frame; a `chunk_batch` is logged as the `chunk` frames it carries."""
        if isinstance(frame, ChunkBatchFrame):
            self.batches += 1
            for c in frame.chunks:
                self.log.append(ChunkFrame(request_id=c.request_id, deltas=c.deltas))
        else:
            self.log.append(frame)

    async def send(self, frame: Frame | str) -> None:
        await self.ws.send_message(frame if isinstance(frame, str) else dump_frame(frame))

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.aclose(code, reason)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = WAIT_S) -> T:
        """Wait until `predicate()` returns something truthy; fail at once if the agent hangs up."""

        def check() -> T | None:
            result = predicate()
            if not result and self.closed.is_set():
                raise AssertionError(f"connection closed ({self.close_code}) while waiting")
            return result

        return await wait_until(check, timeout=timeout)

    def of_type(self, type_: str, start: int = 0) -> list[Any]:
        return [f for f in self.log[start:] if f.type == type_]

    def for_request(self, request_id: str, start: int = 0) -> list[Any]:
        return [f for f in self.log[start:] if getattr(f, "request_id", None) == request_id]

    async def next_of_type(self, type_: str, start: int = 0) -> tuple[int, Any]:
        """The first frame of `type_` at log index >= `start`, with its index."""

        def find() -> tuple[int, Any] | None:
            for i in range(start, len(self.log)):
                if self.log[i].type == type_:
                    return i, self.log[i]
            return None

        return await self.wait_for(find)

    async def result(self, request_id: str) -> tuple[str, CompleteFrame | ErrorFrame]:
        """Wait for a request's terminal frame; returns (streamed text, terminal)."""

        def done() -> CompleteFrame | ErrorFrame | None:
            for f in self.for_request(request_id):
                if f.type in ("complete", "error"):
                    return f
            return None

        terminal = await self.wait_for(done)
        return self.text(request_id), terminal

    def text(self, request_id: str) -> str:
        return "".join(
            d.content or ""
            for f in self.for_request(request_id)
            if f.type == "chunk"
            for d in f.deltas
        )


class FakeCoordinator:
    """Accepts agents at /v1/providers/connect; hands each connection to the test."""

    def __init__(
        self,
        *,
        token: str = "secret",
        heartbeat_interval_s: float = 60.0,
        challenge_interval_s: float = 60.0,
        trust: str = "self_signed",
        auto_register: bool = True,
        reject_first: int = 0,
        reject_status: int = 503,
    ) -> None:
        self.token = token
        self.heartbeat_interval_s = heartbeat_interval_s
        self.challenge_interval_s = challenge_interval_s
        self.trust = trust
        self.auto_register = auto_register
        self.reject_first = reject_first
        self.reject_status = reject_status
        self.attempts = 0
        self.first_attempt = trio.Event()
        self.port = 0
        self._scope: trio.CancelScope | None = None
        self._conn_send, self._conn_recv = trio.open_memory_channel[FakeConn](math.inf)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def run(
        self,
        port: int = 0,
        *,
        task_status: trio.TaskStatus[FakeCoordinator] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            serve = partial(
                serve_websocket, self._handle, "127.0.0.1", port, None, handler_nursery=nursery
            )
            server = await nursery.start(serve)
            self.port = server.port
            task_status.started(self)

    def stop(self) -> None:
        """Drop the listener and every connection abruptly (no close handshake)."""
        assert self._scope is not None
        self._scope.cancel()

    async def next_connection(self, timeout: float = WAIT_S) -> FakeConn:
        with trio.fail_after(timeout):
            return await self._conn_recv.receive()

    def pending_connections(self) -> int:
        return self._conn_recv.statistics().current_buffer_used

    async def _handle(self, request: WebSocketRequest) -> None:
        self.attempts += 1
        self.first_attempt.set()
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        auth = headers.get("authorization", "")
        if self.attempts <= self.reject_first:
            await request.reject(self.reject_status)
            return
        if request.path != "/v1/providers/connect" or auth != f"Bearer {self.token}":
            await request.reject(401)
            return
        ws = await request.accept()
        try:
            register = parse_provider_frame(await ws.get_message())
        except ConnectionClosed:
            return
        assert isinstance(register, RegisterFrame), register
        conn = FakeConn(ws, register, request.path, auth)
        if self.auto_register:
            await conn.send(
                RegisteredFrame(
                    provider_id=conn.provider_id,
                    trust=self.trust,  # type: ignore[arg-type]
                    challenge_interval_s=self.challenge_interval_s,
                    heartbeat_interval_s=self.heartbeat_interval_s,
                )
            )
        await self._conn_send.send(conn)
        try:
            while True:
                conn._append(parse_provider_frame(await ws.get_message()))
        except ConnectionClosed as exc:
            conn.close_code = exc.reason.code
        finally:
            conn.closed.set()
