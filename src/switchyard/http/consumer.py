"""Consumer API routes: `/v1/chat/completions`, `/v1/completions`, `/v1/messages`, `/v1/models`.

Each route authenticates the API key, validates the body into the normalized chat shape,
and runs it through a `RelaySession`. Streams wait for the first batch before answering,
so a failure before the first token is still a proper HTTP status; afterwards failures
become an in-stream error event. Stop sequences are enforced here (`StopMatcher`), so they
work whatever the backend does. A stream's parts are produced by a pump task apart from the
socket writes (`PumpedBody`), so a client that stops reading is cut off and its slot and
hold given back while its write is still stalled. A client that disconnects cancels the
handler (and the pump), which releases the slot and cancels the provider's work.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import trio
from quart import Blueprint, Response, g, jsonify, request

from ..actors.provider_messages import StreamChunk, StreamEnd
from ..actors.scheduler_messages import ModelsQuery
from ..inference.charge import Charge
from ..inference.relay import Job, RelaySession, provider_error
from ..metrics import ACTIVE_STREAMS, LATENCY, RATE_LIMITED, RELAYED_TOKENS, TTFT
from ..protocol.anthropic_api import MessagesRequest, messages_to_normalized
from ..protocol.chat import StopMatcher, delta_texts
from ..protocol.errors import (
    ApiError,
    authentication_failed,
    invalid_request,
    parse_json_body,
    rate_limited,
    request_frame_too_large,
    service_unavailable,
)
from ..protocol.frames import ChatRequestBody, dump_request_body
from ..protocol.limits import MAX_COORDINATOR_FRAME_BYTES, MAX_REQUEST_BODY_JSON_BYTES
from ..protocol.openai_api import (
    ChatCompletionRequest,
    CompletionRequest,
    chat_to_normalized,
    completion_to_normalized,
)
from ..protocol.vocabulary import ApiErrorCode, Outcome, Trust
from ..storage.models import ApiKeyRecord
from .consumer_formats import AnthropicMessages, OpenAIChat, OpenAICompletion, Rendering, Usage
from .context import bearer_token, coordinator
from .stream_body import PumpedBody

consumer = Blueprint("consumer", __name__)
ACCESS = logging.getLogger("switchyard.access")

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
TRUST_HEADER = "X-Switchyard-Min-Trust"


async def authenticate() -> ApiKeyRecord:
    token = bearer_token(request.headers)
    if token is None:
        raise authentication_failed("Missing API key (Authorization: Bearer sk-sy-...).")
    record = await coordinator().keys.lookup(token)
    if record is None:
        raise authentication_failed()
    return record


async def parse(model_cls: type[Any]) -> Any:
    raw = await request.get_data()
    return parse_json_body(raw, model_cls, max_bytes=coordinator().settings.max_body_bytes)


def estimate_prompt_tokens(body: ChatRequestBody) -> int:
    """A cheap upper-leaning estimate (≈4 characters a token, plus per-message overhead)."""
    return sum(len(m.content) // 4 + 4 for m in body.messages) + 2


def make_job(model: str, body: ChatRequestBody) -> Job:
    settings = coordinator().settings
    g.model = model
    wire = dump_request_body(body)  # serialized once; every attempt's frame reuses it
    if len(wire) > MAX_REQUEST_BODY_JSON_BYTES:
        raise request_frame_too_large(MAX_COORDINATOR_FRAME_BYTES)
    try:
        trust = Trust.parse(request.headers.get(TRUST_HEADER, Trust.SELF_SIGNED).strip())
    except ValueError:
        raise invalid_request(
            f"{TRUST_HEADER} must be untrusted, self_signed or hardware.", param=TRUST_HEADER
        ) from None
    now = trio.current_time()
    return Job(
        model=model,
        body=body,
        body_json=wire.decode(),
        prompt_tokens=estimate_prompt_tokens(body),
        deadline=now + settings.request_timeout_s,
        reserve_deadline=now + settings.reserve_timeout_s,
        min_trust=trust,
        max_attempts=settings.max_attempts,
        stream_buffer=settings.provider.stream_buffer,
    )


def final_usage(job: Job, session: RelaySession, end: StreamEnd | None) -> Usage:
    """The provider's report when it sent one, else what we estimated and relayed."""
    if end is not None and end.ok and end.prompt_tokens is not None:
        return Usage(end.prompt_tokens, end.completion_tokens or 0)
    return Usage(job.prompt_tokens, session.relayed_tokens)


async def admit(key: ApiKeyRecord, job: Job) -> int:
    """Apply the key's rate limits; returns the tokens reserved (ApiError 429 when refused)."""
    coord = coordinator()
    limits = await coord.keys.limits(key.id)
    reserved = job.prompt_tokens + job.body.max_tokens
    refusal = coord.limiter.admit(key.id, limits, reserved, trio.current_time())
    if refusal is not None:
        RATE_LIMITED.labels(refusal.limit).inc()
        raise rate_limited(refusal.retry_after_s, refusal.message)
    return reserved


async def run(key: ApiKeyRecord, job: Job, rendering: Rendering, stream: bool) -> Any:
    """Admit, hold the money, relay `job`, answer in `rendering`'s format, settle — once."""
    coord = coordinator()
    if not coord.gate.enter():
        raise service_unavailable(
            "The coordinator is shutting down.", ApiErrorCode.SHUTTING_DOWN, retry_after=5
        )
    try:
        reserved = await admit(key, job)
        try:
            charge = await Charge.open(coord.billing, key, job)
        except BaseException:
            coord.limiter.refund(key.id, reserved)
            raise
    except BaseException:
        coord.gate.leave()
        raise
    session = RelaySession(coord.scheduler, job, model_priced=charge.priced)
    done = Finisher(key, job, charge, session, reserved, request.path)
    stops = StopMatcher(job.body.stop or [])
    if not stream:
        charge.delivered = False  # the consumer gets nothing unless the body is produced
        try:
            async with session:
                response = await _collect(job, session, rendering, stops)
            charge.delivered = True
            return response
        except ApiError as exc:
            charge.outcome = Outcome.http(exc.status)
            raise
        finally:
            await done()
    events = _stream(job, session, rendering, stops, done)
    try:
        first = await events.__anext__()  # raises ApiError before any byte is sent
        body = PumpedBody(first, events, job.stream_buffer, done.too_slow)
        response = Response(body, headers=SSE_HEADERS)
        response.timeout = coord.settings.request_timeout_s + 30
    except BaseException:
        with trio.CancelScope(shield=True):
            await events.aclose()
        raise
    return response


class Finisher:
    """Everything that happens once when a request ends: money, limits, metrics, access log."""

    def __init__(
        self, key: ApiKeyRecord, job: Job, charge: Charge, session: RelaySession,
        reserved: int, route: str,
    ) -> None:  # fmt: skip
        self.key, self.job, self.charge, self.session = key, job, charge, session
        self.reserved, self.route = reserved, route
        self.coord = coordinator()  # captured: a stream ends outside the app context
        self.started = time.monotonic()
        ACTIVE_STREAMS.inc()

    def too_slow(self) -> None:
        """The client stopped reading its stream, which is being ended for it."""
        self.charge.outcome = Outcome.CONSUMER_TOO_SLOW

    async def __call__(self) -> None:
        session, charge = self.session, self.charge
        if charge.closed:
            return
        await charge.close(session)
        self.coord.gate.leave()
        ACTIVE_STREAMS.dec()
        end = session.end
        used = final_usage(self.job, session, end)
        self.coord.limiter.refund(
            self.key.id, self.reserved - used.prompt_tokens - used.completion_tokens
        )
        elapsed = time.monotonic() - self.started
        LATENCY.labels(self.route).observe(elapsed)
        RELAYED_TOKENS.inc(session.relayed_tokens)
        if session.ttft_s is not None:
            TTFT.labels(self.route).observe(session.ttft_s)
        ACCESS.info(
            json.dumps(
                {
                    "event": "request_end", "route": self.route, "model": self.job.model,
                    "key": self.key.prefix, "account": self.key.account_id,
                    "provider": session.provider_id, "attempts": session.attempts,
                    "outcome": charge.outcome or ((Outcome.OK if end.ok else end.error_code)
                                                  if end else Outcome.CANCELLED),
                    "prompt_tokens": used.prompt_tokens,
                    "completion_tokens": used.completion_tokens,
                    "ttft_ms": round(session.ttft_s * 1000) if session.ttft_s else None,
                    "duration_ms": round(elapsed * 1000),
                }
            )
        )  # fmt: skip


async def _collect(
    job: Job, session: RelaySession, rendering: Rendering, stops: StopMatcher
) -> Response:
    parts: list[str] = []
    end: StreamEnd | None = None
    while end is None:
        for item in await session.next_batch():
            if type(item) is StreamChunk:
                parts += stops.feed_all(delta_texts(item.deltas))
            elif type(item) is StreamEnd:
                end = item
        if stops.matched is not None:
            break
    if end is not None and not end.ok:
        raise provider_error(end)
    parts.append(stops.flush())
    reason = "stop" if stops.matched is not None else (end.finish_reason if end else "stop")
    usage = final_usage(job, session, end)
    matched = stops.matched or (end.stop_sequence if end else None)
    return jsonify(rendering.body("".join(parts), reason or "stop", usage, matched))


async def _stream(
    job: Job, session: RelaySession, rendering: Rendering, stops: StopMatcher, done: Finisher
) -> AsyncGenerator[bytes, None]:
    """The SSE bytes of one relayed stream, one write per batch of ready items; settles once.

    `run` starts it (the first batch decides the HTTP status), so even a response that is
    never sent is a started generator, whose `finally` runs when it is closed or collected.
    """
    try:
        async with session:
            while True:
                part, finished = await _render_batch(job, session, rendering, stops)
                if part:
                    yield part
                if finished:
                    return
    except ApiError as exc:
        done.charge.outcome = Outcome.http(exc.status)
        raise
    finally:
        await done()


async def _render_batch(
    job: Job, session: RelaySession, rendering: Rendering, stops: StopMatcher
) -> tuple[bytes, bool]:
    """The next batch of items as SSE bytes, and whether the stream ended with it."""
    batch = await session.next_batch()
    out = b""
    end: StreamEnd | None = None
    for item in batch:
        if type(item) is StreamChunk:
            texts = delta_texts(item.deltas)
            out += rendering.texts(stops.feed_all(texts) if stops.active else texts)
        elif type(item) is StreamEnd:
            end = item
    if stops.matched is not None:
        usage = final_usage(job, session, None)
        return out + rendering.finish("stop", usage, stops.matched), True
    if end is None:
        return out, False
    out += rendering.texts([stops.flush()])
    if end.ok:
        usage = final_usage(job, session, end)
        out += rendering.finish(end.finish_reason or "stop", usage, end.stop_sequence)
    else:
        out += rendering.error(provider_error(end))
    return out, True


@consumer.post("/v1/chat/completions")
async def chat_completions() -> Any:
    key = await authenticate()
    req: ChatCompletionRequest = await parse(ChatCompletionRequest)
    body = chat_to_normalized(req, default_max_tokens=coordinator().settings.default_max_tokens)
    job = make_job(req.model, body)
    return await run(key, job, OpenAIChat(req.model, req.include_usage), req.stream)


@consumer.post("/v1/completions")
async def completions() -> Any:
    key = await authenticate()
    req: CompletionRequest = await parse(CompletionRequest)
    job = make_job(req.model, completion_to_normalized(req))
    return await run(key, job, OpenAICompletion(req.model, req.include_usage), req.stream)


@consumer.post("/v1/messages")
async def messages() -> Any:
    key = await authenticate()
    req: MessagesRequest = await parse(MessagesRequest)
    job = make_job(req.model, messages_to_normalized(req))
    rendering = AnthropicMessages(req.model, job.prompt_tokens)
    return await run(key, job, rendering, req.stream)


@consumer.get("/v1/models")
async def list_models() -> Response:
    await authenticate()
    coord = coordinator()
    served: dict[str, dict[str, int]] = await coord.scheduler.ask(ModelsQuery())
    prices = {p.model: p for p in await coord.store.list_pricing()}
    data = []
    for model_id in sorted(served):
        info = served[model_id]
        price = prices.get(model_id)
        entry: dict[str, Any] = {
            "id": model_id,
            "object": "model",
            "created": 0,
            "owned_by": "switchyard",
            "providers": info.get("providers_online", 0),
            "slots_free": info.get("slots_free", 0),
        }
        if price is not None:
            entry["pricing"] = {
                "input_micro_usd_per_mtok": price.input_micro_usd_per_mtok,
                "output_micro_usd_per_mtok": price.output_micro_usd_per_mtok,
            }
            if price.context_length:
                entry["context_length"] = price.context_length
        data.append(entry)
    return jsonify({"object": "list", "data": data})
