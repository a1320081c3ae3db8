"""StreamServer: runs other replicas' requests on this replica's providers.

It answers `route.<this replica>.dispatch` requests (from a `RemoteProviderActor`
elsewhere). For each one, in its own task (started right from the NATS callback):

1. the scheduler confirms a slot on the named local provider (`ReserveOn`): this replica
   stays the only authority on its providers' slots, so a stale view elsewhere can never
   double-book one; a refusal is answered at once and the asker tries its next candidate;
   a body too large for the dispatch message is fetched from the object store only now
   (`crossing_bodies.py`): missing or expired, it is a refusal and the slot is released;
2. the provider actor takes the `Dispatch` with a local channel, exactly as for a local
   consumer; then the answer `ok` goes back;
3. the stream is pumped to `stream.<origin>.<request_id>`: everything ready at once is
   one batch (split only above `REMOTE_BATCH_BYTES`), one publish per batch, never per
   token, numbered so the consumer side notices a lost one. What is ready when the
   answer is queued is queued in the same step, so both leave in one NATS write;
4. at the end, on a `route.<this replica>.cancel` for it, or when the origin replica
   lapses, the provider is told `Cancel` (if its work may still run) and the slot is
   released here — exactly once, shielded. When this replica stops first, the origin is
   sent the stream's end (`provider_gone`, retryable while no token was relayed).

At most `MAX_REMOTE_STREAMS` requests run at once; more are refused.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import trio

from ..actors.provider import ProviderUnavailable
from ..actors.provider_messages import Cancel, Dispatch, StreamChunk, StreamEnd
from ..actors.scheduler_messages import NoCapacity, Release, Reservation
from ..actors.scheduler_remote import ReserveOn
from ..inference.relay import release_outcome, vanished_end
from ..protocol.limits import MAX_REMOTE_STREAMS, REMOTE_BATCH_BYTES
from ..protocol.vocabulary import Outcome
from ..runtime import ActorRef, ActorStopped, AskTimeout, MailboxFull
from .crossing_bodies import CrossingBodies
from .errors import TransportError
from .routing_wire import (
    DispatchRequest,
    WireError,
    dump_answer,
    dump_batch,
    encode_item,
    load_cancel,
    load_dispatch,
)
from .transport import Message, Transport

log = logging.getLogger(__name__)

ASK_TIMEOUT_S = 5.0
COUNTERS = ("served", "refused", "bad", "cancelled", "batches", "publish_failed",
            "bodies_fetched", "bodies_missing")  # fmt: skip
STREAM_BUFFER = 4096  # items a provider actor may queue for one remote request


@dataclass
class _Serving:
    origin: str
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    by_peer: bool = False  # cancelled by its origin (or the origin lapsed)
    seq: int = 0  # batches published
    tokens: int = 0  # tokens relayed


@dataclass
class StreamServer:
    """See the module docstring; `run` serves until cancelled."""

    transport: Transport
    scheduler: ActorRef
    replica_id: str
    limit: int = MAX_REMOTE_STREAMS
    active: dict[str, _Serving] = field(default_factory=dict)
    starting: int = 0  # dispatches whose task has not started yet (they count to `limit`)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    bodies: CrossingBodies = field(init=False)

    def __post_init__(self) -> None:
        self.bodies = CrossingBodies(self.transport)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        transport = self.transport
        dispatch = transport.subject("route", self.replica_id, "dispatch")
        cancel = transport.subject("route", self.replica_id, "cancel")
        async with trio.open_nursery() as nursery:

            def on_dispatch(message: Message) -> None:  # asyncio side: start serving at once
                if len(self.active) + self.starting >= self.limit:
                    self._answer(message, False, "too many remote streams")
                    return
                self.starting += 1
                nursery.start_soon(self._serve, message)

            async with (
                transport.subscribe(cancel, buffer=4096) as cancels,
                transport.subscribe_calls(dispatch, on_dispatch),
            ):
                nursery.start_soon(self._cancels, cancels)
                task_status.started()
                await trio.sleep_forever()

    def origin_lapsed(self, replica: str) -> None:
        """The replica `replica` stopped: cancel the requests it sent us."""
        for serving in self.active.values():
            if serving.origin == replica:
                serving.by_peer = True
                serving.scope.cancel()

    async def _cancels(self, cancels: trio.MemoryReceiveChannel[Message]) -> None:
        async for message in cancels:
            try:
                request_id = load_cancel(message.data)
            except WireError:
                self.counters["bad"] += 1
                continue
            serving = self.active.get(request_id)
            if serving is not None:
                self.counters["cancelled"] += 1
                serving.by_peer = True
                serving.scope.cancel()

    def _answer(self, message: Message, ok: bool, error: str = "") -> None:
        if not ok:
            self.counters["refused"] += 1
        if message.reply is not None:
            with contextlib.suppress(TransportError):
                self.transport.reply(message, dump_answer(ok, error))

    async def _serve(self, message: Message) -> None:
        self.starting -= 1
        try:
            request = load_dispatch(message.data)
        except WireError as exc:
            self.counters["bad"] += 1
            self._answer(message, False, str(exc))
            return
        if request.request_id in self.active:
            self._answer(message, False, "request id already running here")
            return
        serving = self.active[request.request_id] = _Serving(request.origin)
        try:
            await self._run(message, request, serving)
        finally:
            del self.active[request.request_id]

    async def _run(self, message: Message, request: DispatchRequest, serving: _Serving) -> None:
        reservation: Reservation | None = None
        outcome: str = Outcome.CANCELLED
        dispatched = ended = False
        receive: trio.MemoryReceiveChannel[StreamChunk | StreamEnd] | None = None
        started = trio.current_time()
        try:
            with serving.scope:
                confirm = ReserveOn(
                    request.provider_id, request.reserve(trio.current_time()), request.origin
                )
                granted = await self.scheduler.ask(confirm, timeout=ASK_TIMEOUT_S)
                if isinstance(granted, NoCapacity):
                    self._answer(message, False, f"no free slot ({granted.reason})")
                    return
                reservation = granted
                body_json = request.body_json
                if request.body_stored:  # only now that the slot is ours (crossing_bodies.py)
                    try:
                        body_json = await self.bodies.fetch(request.origin, request.request_id)
                    except TransportError as exc:  # BodyMissing: gone, expired, unacceptable
                        self.counters["bodies_missing"] += 1
                        self._answer(message, False, f"request body not available: {exc}")
                        return
                    self.counters["bodies_fetched"] += 1
                send, receive = trio.open_memory_channel[StreamChunk | StreamEnd](STREAM_BUFFER)
                dispatch = Dispatch(
                    request.request_id, request.model, body_json,
                    request.deadline_unix, send, kind=request.kind,
                )  # fmt: skip
                try:
                    await reservation.provider_ref.ask(dispatch, timeout=ASK_TIMEOUT_S)
                except (ProviderUnavailable, ActorStopped, AskTimeout) as exc:
                    dispatched = isinstance(exc, AskTimeout)  # may run: cancel it below
                    outcome = Outcome.ERROR
                    self._answer(message, False, str(exc))
                    return
                dispatched = True
                self._answer(message, True)
                self.counters["served"] += 1
                outcome = await self._pump(request, serving, receive)
                ended = True
        except (ActorStopped, AskTimeout) as exc:  # the scheduler restarted or is stuck
            self._answer(message, False, str(exc))
        finally:
            if receive is not None:
                receive.close()
            if dispatched and not ended and not serving.by_peer:  # we are shutting down
                self._end_remote(request, serving, f"replica {self.replica_id} stopped")
            with trio.CancelScope(shield=True):
                if dispatched and not ended and reservation is not None:
                    with contextlib.suppress(MailboxFull):
                        reservation.provider_ref.tell(Cancel(request.request_id))
                if reservation is not None:
                    release = Release(
                        reservation.id, outcome, tokens=serving.tokens,
                        duration_s=trio.current_time() - started,
                    )  # fmt: skip
                    await self.scheduler.tell_or_send(release, timeout=10)

    def _end_remote(self, request: DispatchRequest, serving: _Serving, why: str) -> None:
        """Tell the origin its stream ends here (retryable while no token was relayed)."""
        serving.seq += 1
        batch = dump_batch(serving.seq, [encode_item(vanished_end(serving.tokens, why))])
        self._publish(self.transport.subject("stream", request.origin, request.request_id), batch)

    async def _pump(
        self,
        request: DispatchRequest,
        serving: _Serving,
        receive: trio.MemoryReceiveChannel[StreamChunk | StreamEnd],
    ) -> str:
        """Relay the stream to the origin; the release outcome."""
        subject = self.transport.subject("stream", request.origin, request.request_id)
        while True:
            try:  # what is ready now goes in this step, with the answer just queued
                first = receive.receive_nowait()
            except trio.WouldBlock:
                try:
                    first = await receive.receive()
                except trio.EndOfChannel:
                    first = vanished_end(serving.tokens)
            except trio.EndOfChannel:
                first = vanished_end(serving.tokens)
            batch: list[str] = []
            size = 0
            item: StreamChunk | StreamEnd = first
            while True:
                if type(item) is StreamChunk:
                    serving.tokens += item.tokens
                encoded = encode_item(item)
                if batch and size + len(encoded) > REMOTE_BATCH_BYTES:
                    serving.seq += 1
                    self._publish(subject, dump_batch(serving.seq, batch))
                    batch, size = [], 0
                batch.append(encoded)
                size += len(encoded)
                if type(item) is StreamEnd:
                    break
                try:
                    item = receive.receive_nowait()
                except trio.WouldBlock:
                    break
                except trio.EndOfChannel:
                    item = vanished_end(serving.tokens)
            serving.seq += 1
            self._publish(subject, dump_batch(serving.seq, batch))
            if type(item) is StreamEnd:
                return release_outcome(item)

    def _publish(self, subject: str, data: bytes) -> None:
        self.counters["batches"] += 1
        try:
            self.transport.publish(subject, data)
        except TransportError as exc:  # the origin sees the gap and ends the stream
            self.counters["publish_failed"] += 1
            log.warning("stream batch not published on %s: %s", subject, exc)


__all__ = ["StreamServer"]
