"""Consumer API routes: `/v1/chat/completions`, `/v1/completions`, `/v1/messages`, and the
helpers the other inference routes share (`parse`, `make_job`, `run`; `/v1/responses` is
in `responses.py`).

Each route authenticates the API key, validates the body, builds the body the wire
carries to a provider (the consumer's own body for `/v1/chat/completions` and
`/v1/completions`, whose kind sends it to the upstream's own route; a translation for
`/v1/messages`), hands the job to a `ConsumerRequest` (which admits, holds,
relays and settles it) and renders what it produces. Streams wait for the first output
before answering, so a failure before the first token is still a proper HTTP status;
afterwards failures become an in-stream error event. A stream's parts are produced by a pump
task apart from the socket writes (`PumpedBody`), so a client that stops reading is cut off
and its slot and hold given back while its write is still stalled. A client that disconnects
cancels the handler (and the pump), which ends the request: the slot is released and the
provider's work cancelled."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import trio
from pydantic import BaseModel
from quart import Blueprint, Response, g, jsonify, request

from ..inference.capabilities import required_capabilities
from ..inference.job import Job, new_job
from ..inference.request import ConsumerRequest
from ..protocol.anthropic_request import parse_messages_request
from ..protocol.anthropic_translate import anthropic_to_chat
from ..protocol.chat_request import ChatRequestBody
from ..protocol.completion_request import CompletionRequest, completion_wire_request
from ..protocol.errors import invalid_request, load_json_object, validate_body
from ..protocol.openai_api import stream_wire, wire_chat_request
from ..protocol.vocabulary import Capability, RequestKind, Trust
from ..storage.models import ApiKeyRecord
from .consumer_formats import AnthropicMessages, OpenAIChat, OpenAICompletion, Rendering
from .context import authenticate, coordinator
from .stream_body import PumpedBody

consumer = Blueprint("consumer", __name__)
M = TypeVar("M", bound=BaseModel)

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
TRUST_HEADER = "X-Switchyard-Min-Trust"


async def parse(model_cls: type[M]) -> tuple[M, dict[str, Any]]:
    """The body validated as `model_cls`, and as the JSON object it came as."""
    raw = await request.get_data()
    data = load_json_object(raw, max_bytes=coordinator().settings.max_body_bytes)
    return validate_body(data, model_cls), data


def make_job(model: str, wire: dict[str, Any], data: dict[str, Any], **job: Any) -> Job:
    """The job for a wire body (`data`: the consumer's body as sent), with the request's
    trust floor and the capabilities it needs (400 if malformed); `job`: more of
    `new_job`'s arguments (a kind, its needs, its prompt estimate...)."""
    g.model = model
    try:
        trust = Trust.parse(request.headers.get(TRUST_HEADER, Trust.SELF_SIGNED).strip())
    except ValueError:
        raise invalid_request(
            f"{TRUST_HEADER} must be untrusted, self_signed or hardware.", param=TRUST_HEADER
        ) from None
    job.setdefault("needs", required_capabilities(data))
    return new_job(model, wire, coordinator().settings, trust, **job)


async def run(
    key: ApiKeyRecord,
    job: Job,
    rendering: Rendering,
    stream: bool,
    finished: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Run `job` as a `ConsumerRequest` and answer in `rendering`'s format.

    `finished`, if given, is awaited once the answer is complete (rendered, not failed)
    and before its last bytes are sent (`/v1/responses` stores the response there, so a
    client that read it can continue from it at once)."""
    coord = coordinator()
    creq = ConsumerRequest(coord, key, job, route=request.path, stream=stream)
    if not stream:
        async with creq:
            choices, final = await creq.collect()
        answer = rendering.body(choices, final)
        if finished is not None:
            await finished()
        return jsonify(answer)
    events = _stream(creq, rendering, finished)
    try:
        first = await events.__anext__()  # raises ApiError before any byte is sent
        body = PumpedBody(first, events, job.stream_buffer, creq.too_slow)
        response = Response(body, headers=SSE_HEADERS)
        response.timeout = coord.settings.request_timeout_s + 30
    except BaseException:
        with trio.CancelScope(shield=True):
            await events.aclose()
        raise
    return response


async def _stream(
    creq: ConsumerRequest, rendering: Rendering, finished: Callable[[], Awaitable[None]] | None
) -> AsyncGenerator[bytes, None]:
    """The SSE bytes of one request's output, one part per batch of ready output.

    `run` starts it (entering the request and its first output decide the HTTP status),
    so even a response that is never sent is a started generator, which ends the request
    when it is closed or collected.
    """
    async with creq:
        while True:
            out = await creq.next_output()
            part = rendering.deltas(out.deltas) if out.deltas else b""
            final = out.final
            if final is None:
                if part:
                    yield part
                continue
            if final.error is not None:
                part += rendering.error(final.error)
            else:
                part += rendering.finish(final)
                if finished is not None:
                    await finished()
            yield part
            return


@consumer.post("/v1/chat/completions")
async def chat_completions() -> Any:
    key = await authenticate()
    req, data = await parse(ChatRequestBody)
    job = make_job(req.model, wire_chat_request(data, req, req.requested_max_tokens), data)
    return await run(key, job, OpenAIChat(req.model, req.include_usage), req.stream)


@consumer.post("/v1/completions")
async def completions() -> Any:
    key = await authenticate()
    req, data = await parse(CompletionRequest)
    job = make_job(
        req.model, completion_wire_request(data, req), data,
        kind=RequestKind.COMPLETION, needs=frozenset({Capability.COMPLETIONS}),
        prompt_tokens=req.prompt_tokens_estimate(), n=req.choices,
    )  # fmt: skip
    return await run(key, job, OpenAICompletion(req.model, req.include_usage), req.stream)


@consumer.post("/v1/messages")
async def messages() -> Any:
    key = await authenticate()
    raw = await request.get_data()
    max_bytes = coordinator().settings.max_body_bytes
    req = parse_messages_request(raw, max_bytes=max_bytes)
    data = load_json_object(raw, max_bytes=max_bytes)  # what the capabilities are read from
    job = make_job(req.model, stream_wire(anthropic_to_chat(req)), data)
    stops = req.stop_sequences or ()
    rendering = AnthropicMessages(req.model, req.stream, stops, job.prompt_tokens)
    return await run(key, job, rendering, req.stream)
