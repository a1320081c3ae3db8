"""An OpenAI-compatible HTTP server in front of `SimulatedBackend` (plain trio + h11).

Serves `GET /v1/models`, `POST /v1/completions`, `POST /v1/embeddings` and `POST /tokenize`
(vLLM's shapes, `sim_routes.py`) and `POST /v1/chat/completions`, streaming (server-sent events,
one chunk per delta, written as the token is produced, like vLLM) or not, over HTTP/1.1
keep-alive. It answers what the backend plans (plain text, tool calls, structured JSON,
`reasoning_content`; see `sim_answer.py`) in OpenAI's shapes: streamed tool calls by
index with their arguments in fragments, non-stream answers accumulated into one message,
usage with `completion_tokens_details.reasoning_tokens` when reasoning was asked for. A
backend error before the first token is an HTTP error (its status for a 4xx, else 502);
after it, an `error` event ends the stream. Token timing is the simulated backend's own,
so a load sent here directly and the same load sent through a coordinator to simulated
providers see the same generation; `bench/load.py` uses it as the direct baseline. It is
also a stand-in upstream for `switchyard provider --backend openai`.

    python -m switchyard.agent.sim_server --port 0 --ttft 0.05 --tokens-per-s 30
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from typing import Annotated, Any, Literal

import click
import h11
import trio
from pydantic import BaseModel, ConfigDict, Field

from switchyard.protocol.completion_request import CompletionRequest
from switchyard.protocol.embeddings import EmbeddingRequest
from switchyard.protocol.errors import (
    ApiError,
    load_json_object,
    model_not_found,
    not_found,
    parse_json_body,
    request_too_large,
    validate_body,
)
from switchyard.protocol.vocabulary import RequestKind, StreamErrorCode

from .backend import BackendError, Deltas, Event, Finish
from .sim_render import ChunkRenderer
from .sim_routes import completion_body, completion_chunk, embeddings_body, tokenize_body
from .simulated import DEFAULT_MODEL, SimulatedBackend, SimulatedConfig

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
READ_SIZE = 65536
_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError)


class _Open(BaseModel):
    """A permissive part of the body: checked fields, the rest passed through."""

    model_config = ConfigDict(extra="allow")


class _StreamOptions(_Open):
    include_usage: bool = False


class _Function(_Open):
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    parameters: dict[str, Any] | None = None


class _Tool(_Open):
    type: Literal["function"]
    function: _Function


class _JsonSchema(_Open):
    name: str = "response"
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None


class _ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = None


class SimChatRequest(_Open):
    """What the simulated server checks of a chat-completions body; the rest goes through."""

    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[dict[str, Any]], Field(min_length=1)]
    stream: bool = False
    stream_options: _StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    tools: list[_Tool] | None = None
    response_format: _ResponseFormat | None = None


class SimOpenAIServer:
    """Serves one `SimulatedBackend` over HTTP on `host:port` (0 picks a free port)."""

    def __init__(self, backend: SimulatedBackend, host: str = "127.0.0.1", port: int = 0) -> None:
        self.backend = backend
        self.host = host
        self.port = port
        self.requests = 0

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. `http://127.0.0.1:PORT/v1`."""
        return f"http://{self.host}:{self.port}/v1"

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; reports the base URL once listening."""
        serve = partial(trio.serve_tcp, self._connection, self.port, host=self.host)
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve)
            self.port = listeners[0].socket.getsockname()[1]
            task_status.started(self.url)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while await self._one_request(conn, stream):
                conn.start_next_cycle()
        except (*_BROKEN, h11.ProtocolError) as exc:
            log.debug("connection ended: %r", exc)
        finally:
            await stream.aclose()

    async def _one_request(self, conn: h11.Connection, stream: trio.SocketStream) -> bool:
        """Read and answer one request; False when the connection should close."""
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(READ_SIZE)
                if not data and request is None:
                    return False
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    await _send_error(conn, stream, request_too_large(MAX_BODY_BYTES))
                    return False
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                return False
        assert request is not None
        self.requests += 1
        target = request.target.split(b"?", 1)[0]
        if request.method == b"GET" and target == b"/v1/models":
            models = [{"id": m, "object": "model", "owned_by": "sim"} for m in self.backend.models]
            await _send_json(conn, stream, 200, {"object": "list", "data": models})
        elif request.method == b"POST" and target in _KINDS:
            try:
                if target == b"/v1/chat/completions":
                    await self._chat(conn, stream, bytes(body))
                else:
                    await self._other(conn, stream, bytes(body), _KINDS[target])
            except ApiError as exc:
                await _send_error(conn, stream, exc)
        else:
            await _send_error(conn, stream, not_found("No such route."))
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _other(
        self, conn: h11.Connection, stream: trio.SocketStream, raw: bytes, kind: RequestKind
    ) -> None:
        """A text completion, embeddings or a token count (see `sim_routes.py`)."""
        body = load_json_object(raw, max_bytes=MAX_BODY_BYTES)
        checked = _CHECKED.get(kind)
        if checked is not None:  # what the coordinator checks, so the simulator can trust it
            validate_body(body, checked)
        model = body.get("model")
        if not isinstance(model, str) or model not in self.backend.models:
            raise model_not_found(str(model))
        if kind is RequestKind.TOKENIZE and not isinstance(body.get("messages"), list):
            prompt = body.get("prompt")
            words = len(prompt.split()) if isinstance(prompt, str) else 0
            body = {"messages": [{"role": "user", "content": " ".join(["w"] * words)}]}
        deltas: list[dict[str, Any]] = []
        async with aclosing(self.backend.generate(model, body, kind)) as events:
            try:
                first = await anext(events)
            except (BackendError, StopAsyncIteration) as exc:
                raise _api_error(_ended_early(exc)) from None
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            streamed = kind is RequestKind.COMPLETION and body.get("stream") is True
            if streamed:
                head = h11.Response(
                    status_code=200, headers=[("content-type", "text/event-stream")]
                )
                await stream.send_all(conn.send(head) or b"")
            event = first
            while True:
                if streamed:
                    data = completion_chunk(model, event, include_usage)
                    await stream.send_all(conn.send(h11.Data(data=data)) or b"")
                elif isinstance(event, Deltas):
                    deltas += event.items
                if isinstance(event, Finish):
                    break
                try:
                    event = await anext(events)
                except (BackendError, StopAsyncIteration) as exc:
                    if streamed:  # after the first token: end the stream
                        await stream.send_all(conn.send(h11.EndOfMessage()) or b"")
                        return
                    raise _api_error(_ended_early(exc)) from None
        if streamed:
            await stream.send_all(conn.send(h11.EndOfMessage()) or b"")
        elif kind is RequestKind.COMPLETION:
            await _send_json(conn, stream, 200, completion_body(model, deltas, event))
        elif kind is RequestKind.EMBEDDING:
            encoding = body.get("encoding_format") or "float"
            await _send_json(conn, stream, 200, embeddings_body(model, deltas, event, encoding))
        else:
            context = self.backend.config.context_length
            await _send_json(conn, stream, 200, tokenize_body(event.prompt_tokens, context))

    async def _chat(self, conn: h11.Connection, stream: trio.SocketStream, raw: bytes) -> None:
        req = parse_json_body(raw, SimChatRequest)
        if req.model not in self.backend.models:
            raise model_not_found(req.model)
        body = req.model_dump(exclude_unset=True, by_alias=True)
        render = ChunkRenderer(req.model)
        async with aclosing(self.backend.generate(req.model, body)) as events:
            try:
                first = await anext(events)
            except (BackendError, StopAsyncIteration) as exc:
                raise _api_error(_ended_early(exc)) from None
            if not req.stream:
                reply = await _accumulate(render, first, events)
                await _send_json(conn, stream, 200, reply)
                return
            include_usage = req.stream_options is not None and req.stream_options.include_usage
            head = h11.Response(
                status_code=200,
                headers=[("content-type", "text/event-stream"), ("cache-control", "no-cache")],
            )
            await stream.send_all(conn.send(head) or b"")
            event = first
            while True:
                data = render.event(event, include_usage)
                await stream.send_all(conn.send(h11.Data(data=data)) or b"")
                if isinstance(event, Finish):
                    break
                try:
                    event = await anext(events)
                except (BackendError, StopAsyncIteration) as exc:  # after the first token
                    data = render.error(_api_error(_ended_early(exc)))
                    await stream.send_all(conn.send(h11.Data(data=data)) or b"")
                    break
            await stream.send_all(conn.send(h11.EndOfMessage()) or b"")


_CHECKED: dict[RequestKind, type[BaseModel]] = {
    RequestKind.COMPLETION: CompletionRequest,
    RequestKind.EMBEDDING: EmbeddingRequest,
}
_KINDS = {
    b"/v1/chat/completions": RequestKind.CHAT,
    b"/v1/completions": RequestKind.COMPLETION,
    b"/v1/embeddings": RequestKind.EMBEDDING,
    b"/tokenize": RequestKind.TOKENIZE,
}


def _api_error(exc: BackendError) -> ApiError:
    status = exc.status if exc.status is not None and 400 <= exc.status < 500 else 502
    return ApiError(status, exc.message, code=exc.code)


async def _accumulate(
    render: ChunkRenderer, first: Event, events: AsyncGenerator[Event, None]
) -> dict[str, Any]:
    """Collect a whole response; a failure at any point is an HTTP error."""
    deltas: list[dict[str, Any]] = []
    event = first
    while not isinstance(event, Finish):
        if isinstance(event, Deltas):
            deltas += event.items
        try:
            event = await anext(events)
        except (BackendError, StopAsyncIteration) as exc:
            raise _api_error(_ended_early(exc)) from None
    return render.completion(deltas, event)


def _ended_early(exc: BaseException) -> BackendError:
    """The failure of a stream that raised `exc` before its `Finish`."""
    if isinstance(exc, BackendError):
        return exc
    return BackendError(StreamErrorCode.BACKEND_ERROR, "the backend ended early", retryable=True)


async def _send_json(
    conn: h11.Connection, stream: trio.SocketStream, status: int, obj: Any
) -> None:
    payload = json.dumps(obj).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
    out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    out += conn.send(h11.Data(data=payload)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(out)


async def _send_error(conn: h11.Connection, stream: trio.SocketStream, err: ApiError) -> None:
    if conn.our_state is not h11.SEND_RESPONSE:
        raise h11.LocalProtocolError("the response has already started")
    await _send_json(conn, stream, err.status, err.openai_body())


async def _serve_forever(server: SimOpenAIServer) -> None:
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.run)
        click.echo(f"sim server listening on {url}", nl=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--models", default=DEFAULT_MODEL, show_default=True, metavar="a,b")
@click.option("--ttft", type=click.FloatRange(min=0), default=0.05, show_default=True)
@click.option("--tokens-per-s", type=click.FloatRange(min=0, min_open=True), default=200.0)
@click.option("--output-tokens", type=click.IntRange(min=0), default=32, show_default=True)
def main(
    host: str, port: int, models: str, ttft: float, tokens_per_s: float, output_tokens: int
) -> None:
    """Serve a simulated backend as an OpenAI-compatible HTTP server until interrupted."""
    logging.basicConfig(level=logging.WARNING)
    config = SimulatedConfig(ttft_s=ttft, tokens_per_s=tokens_per_s, output_tokens=output_tokens)
    names = tuple(m.strip() for m in models.split(",") if m.strip()) or (DEFAULT_MODEL,)
    server = SimOpenAIServer(SimulatedBackend(config, names), host, port)
    try:
        trio.run(_serve_forever, server)
    except KeyboardInterrupt:
        return


if __name__ == "__main__":
    main()
