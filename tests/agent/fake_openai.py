"""A small OpenAI-compatible streaming server for backend tests (plain trio + h11).

Serves `GET /v1/models` and `POST /v1/chat/completions` with `stream: true` as server-sent
events, the way vLLM, llama.cpp and Ollama do; records every request body it gets. Given
`props` it also answers llama.cpp's `GET /props`, given `shows` Ollama's `POST /api/show`
(by model name); every request line is recorded in `targets`. `GET /health` answers
`health_status` when set (404 otherwise, like Ollama). For health tests it can be stopped
and restarted on the same port (`stop`, then `run` again), hold chat requests open without
answering (`hang_chat`), or stop answering anything (`frozen`).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import h11
import trio

from tests.h11_server import read_request, response_head

DEFAULT_PIECES = ("Hello", " world", "!")


class FakeOpenAI:
    """Configurable upstream: pieces to stream, finish reason, usage, or an HTTP error."""

    def __init__(
        self,
        *,
        pieces: tuple[str, ...] = DEFAULT_PIECES,
        finish_reason: str = "stop",
        usage: dict[str, int] | None = None,
        status: int = 200,
        models: list[dict[str, Any]] | None = None,
        extra_events: tuple[str, ...] = (),
        props: dict[str, Any] | None = None,
        shows: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.pieces = pieces
        self.finish_reason = finish_reason
        self.usage = usage
        self.status = status
        self.models = models if models is not None else [{"id": "upstream/model"}]
        self.extra_events = extra_events
        self.props = props
        self.shows = shows
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.targets: list[str] = []  # every request's method and path, in order
        self.health_status: int | None = None
        self.hang_chat = False
        self.frozen = False
        self.port = 0
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def run(self, *, task_status: trio.TaskStatus[FakeOpenAI] = trio.TASK_STATUS_IGNORED):
        """Serve until `stop()`; a restarted server listens on the port it had before."""
        self._stopped = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                serve = partial(trio.serve_tcp, self._handle, self.port, host="127.0.0.1")
                listeners = await nursery.start(serve)
                self.port = listeners[0].socket.getsockname()[1]
                task_status.started(self)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Close the listener and every open connection, as a crashed server would."""
        assert self._scope is not None
        self._scope.cancel()
        await self._stopped.wait()

    async def _handle(self, stream: trio.SocketStream) -> None:
        received = await read_request(stream)
        if received is None:
            return
        conn, request, body = received
        self.headers.append({k.decode(): v.decode() for k, v in request.headers})
        target = request.target.decode()
        self.targets.append(f"{request.method.decode()} {target}")
        if self.frozen:
            await trio.sleep_forever()

        async def send(*events: Any) -> None:
            for ev in events:
                await stream.send_all(conn.send(ev) or b"")

        if request.method == b"GET" and target == "/health" and self.health_status is not None:
            payload = b'{"status": "ok"}' if self.health_status == 200 else b'{"error": "down"}'
            await send(response_head(self.health_status, "application/json", len(payload)))
            await send(h11.Data(payload))
        elif request.method == b"GET" and target == "/v1/models":
            await self._json(send, {"object": "list", "data": self.models})
        elif request.method == b"GET" and target == "/props" and self.props is not None:
            await self._json(send, self.props)
        elif request.method == b"POST" and target == "/api/show" and self.shows is not None:
            shown = self.shows.get(json.loads(body).get("model"))
            if shown is None:
                payload = b'{"error": "model not found"}'
                await send(response_head(404, "application/json", len(payload)), h11.Data(payload))
            else:
                await self._json(send, shown)
        elif request.method == b"POST" and target == "/v1/chat/completions":
            self.requests.append(json.loads(body))
            if self.hang_chat:
                await trio.sleep_forever()
            if self.status != 200:
                payload = json.dumps({"error": {"message": "nope", "type": "x"}}).encode()
                await send(response_head(self.status, "application/json", len(payload)))
                await send(h11.Data(payload))
            else:
                await send(response_head(200, "text/event-stream", None))
                for line in self._events():
                    await send(h11.Data(line.encode()))
                    await trio.lowlevel.checkpoint()
        else:
            await send(response_head(404, "text/plain", 0))
        await send(h11.EndOfMessage())
        await stream.aclose()

    @staticmethod
    async def _json(send: Any, obj: Any) -> None:
        payload = json.dumps(obj).encode()
        await send(response_head(200, "application/json", len(payload)), h11.Data(payload))

    def _events(self) -> list[str]:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
            obj = {"id": "c1", "object": "chat.completion.chunk", "choices": choices, **extra}
            return f"data: {json.dumps(obj)}\n\n"

        events = [
            ": keep-alive comment\n\n",
            chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
        ]
        events += [chunk([{"index": 0, "delta": {"content": p}}]) for p in self.pieces]
        events += list(self.extra_events)
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": self.finish_reason}]))
        if self.usage is not None:
            events.append(chunk([], usage=self.usage))
        events.append("data: [DONE]\n\n")
        return events
