"""RemoteProviderActor: this replica's stand-in for every provider connected elsewhere.

The scheduler indexes a remote provider with this actor's ref, so `RelaySession` talks to
it exactly as to a local provider actor: `Dispatch` (asked) and `Cancel` (told).

- `Dispatch` (with `remote` set) becomes one NATS request to the owning replica's
  `route.<owner>.dispatch`, queued while handling the `Dispatch` and answered once the
  owner's scheduler confirmed the slot and its provider actor took the request; the
  answer goes straight from the transport's callback into this actor's mailbox (a
  helper task only bounds the wait). A request too large for one NATS message has its
  body put into the object store first (a helper task; `crossing_bodies.py`), the
  request refers to it, and the body is deleted once the owner answered (or the
  consumer left first). A refusal (the slot was taken meanwhile, the provider left, the
  body could not be stored or fetched, nobody answers) is `ProviderUnavailable`, so the
  relay tries the next candidate; no answer in time is `AskTimeout` (the relay then
  cancels, in case it runs).
- The stream comes back on `stream.<this replica>.<request_id>`, one message per batch of
  items in order (`seq`). One subscription for all of them, whose callback puts each
  message straight into this actor's mailbox (shed and counted when full: the consumer
  then sees the gap). Items go into the request's local channel without blocking: a
  consumer too slow for its buffer, or gone, has the request cancelled at the owner; a
  gap in `seq` (a message shed on the way) ends the stream with an error.
- `Cancel` (the consumer left) is published to `route.<owner>.cancel`.
- `ReplicaLapsed`: every stream through that replica ends with `provider_gone`,
  retryable while no token was relayed (the relay then retries elsewhere); a dispatch
  still waiting for its answer fails with `ProviderUnavailable`.

At most `MAX_REMOTE_STREAMS` streams are open at once; more are refused.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import trio

from ..actors.provider import ProviderUnavailable
from ..actors.provider_messages import Cancel, Dispatch, StreamChunk, StreamEnd
from ..inference.relay import vanished_end
from ..protocol.limits import MAX_REMOTE_STREAMS
from ..runtime import Actor, ActorStopped, AskTimeout, MailboxFull, Reply
from .crossing_bodies import CrossingBodies
from .errors import MessageTooLarge, TransportError, TransportTimeout
from .routing_wire import WireError, dump_cancel, dump_dispatch, load_answer, load_batch
from .transport import Message, PendingRequest, Transport
from .transport_objects import OBJECT_TIMEOUT_S

log = logging.getLogger(__name__)

DISPATCH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Answered:
    """Internal: the owner answered (or did not) the dispatch of `request_id`."""

    request_id: str
    reply: Reply
    error: BaseException | None


@dataclass(frozen=True)
class BodyStored:
    """Internal: the body of `request_id` is stored (or not: `error`); `data` is the
    dispatch request referring to it."""

    request_id: str
    reply: Reply
    data: bytes
    error: BaseException | None


@dataclass(frozen=True)
class Batch:
    """Internal: one stream message for `request_id`."""

    request_id: str
    data: bytes


@dataclass(frozen=True)
class ReplicaLapsed:
    """`replica` stopped: end every stream through it."""

    replica: str


@dataclass
class _Route:
    replica: str
    stream: trio.MemorySendChannel[StreamChunk | StreamEnd]
    reply: Reply | None  # until the owner answered
    seq: int = 0
    tokens: int = 0


COUNTERS = (
    "dispatched",
    "refused",
    "bodies_stored",
    "batches",
    "gaps",
    "late",
    "too_slow",
    "lapsed",
    "cancelled",
)


class RemoteProviderActor(Actor):
    """The stand-in for remote providers (see the module docstring)."""

    def __init__(self, transport: Transport, replica_id: str, limit: int = MAX_REMOTE_STREAMS):
        self.transport = transport
        self.replica_id = replica_id
        self.limit = limit
        self.routes: dict[str, _Route] = {}
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.bodies = CrossingBodies(transport)

    async def on_start(self) -> None:
        self.start_task(self._receive_streams)

    async def on_stop(self) -> None:
        for request_id in list(self.routes):
            self._end(request_id, vanished_end(self.routes[request_id].tokens), cancel=True)

    def describe(self) -> dict[str, Any]:
        return {"streams": len(self.routes), **self.counters}

    async def _receive_streams(self) -> None:
        subject = self.transport.subject("stream", self.replica_id, "*")
        ref = self.ref

        def on_batch(message: Message) -> None:  # asyncio side: straight into the mailbox
            try:
                ref.tell(Batch(message.subject.rpartition(".")[2], message.data))
            except MailboxFull:  # the consumer sees the gap and ends the stream
                self.transport.stats.receive_shed += 1
            except ActorStopped:
                pass

        async with self.transport.subscribe_calls(subject, on_batch):
            await trio.sleep_forever()

    # -- messages ------------------------------------------------------------------------

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Batch(request_id=request_id, data=data):
                self._on_batch(request_id, data)
            case Dispatch():
                self._dispatch(msg)
            case Answered(request_id=request_id, reply=reply, error=error):
                self._answered(request_id, reply, error)
            case BodyStored():
                self._body_stored(msg)
            case Cancel(request_id=request_id):
                if request_id in self.routes:
                    self.counters["cancelled"] += 1
                    self._end(request_id, None, cancel=True)
            case ReplicaLapsed(replica=replica):
                for request_id, route in list(self.routes.items()):
                    if route.replica == replica:
                        self.counters["lapsed"] += 1
                        end = vanished_end(route.tokens, f"replica {replica} stopped")
                        self._end(request_id, end, cancel=False)
            case _:
                return await super().handle(msg)
        return None

    def _dispatch(self, msg: Dispatch) -> None:
        if msg.remote is None or msg.remote[0].replica is None:
            raise ProviderUnavailable("not a remote provider")
        reservation, reserve = msg.remote
        if msg.request_id in self.routes or len(self.routes) >= self.limit:
            raise ProviderUnavailable("too many remote streams")
        owner = reservation.replica
        assert owner is not None
        args = (msg.request_id, self.replica_id, reservation.provider_id, msg.body_json,
                msg.deadline_unix, reserve, msg.kind)  # fmt: skip
        data = dump_dispatch(*args)
        reply = self.defer()
        self.routes[msg.request_id] = _Route(owner, msg.stream, reply)
        if len(data) <= self.transport.max_payload:
            self._send(msg.request_id, owner, data, reply, stored=False)
            return
        # Too large for one message: store the body first (crossing_bodies.py).
        self.counters["bodies_stored"] += 1
        referring = dump_dispatch(*args, body_stored=True)
        self.start_task(self._store_body, msg.request_id, msg.body_json, referring, reply)

    async def _store_body(self, request_id: str, body_json: str, data: bytes, reply: Reply) -> None:
        """Put the body into the object store, then have the actor send the request."""
        error: BaseException | None = None
        try:
            await self.bodies.put(self.replica_id, request_id, body_json)
        except TransportError as exc:  # (a put that timed out may still land: delete it)
            error = ProviderUnavailable(f"the request body could not be stored: {exc}")
            await self._discard_body(request_id)
        with contextlib.suppress(ActorStopped):
            await self.ref.send(BodyStored(request_id, reply, data, error))

    def _body_stored(self, stored: BodyStored) -> None:
        route = self.routes.get(stored.request_id)
        if route is None or route.reply is not stored.reply:  # the consumer left meanwhile
            stored.reply.fail(ProviderUnavailable("the stream ended before it was sent"))
            self.start_task(self._discard_body, stored.request_id)
        elif stored.error is not None:
            self._answered(stored.request_id, stored.reply, stored.error)
        else:
            self._send(stored.request_id, route.replica, stored.data, stored.reply, stored=True)

    async def _discard_body(self, request_id: str) -> None:
        with trio.CancelScope(shield=True):  # also when this actor stops meanwhile
            await self.bodies.discard(self.replica_id, request_id)

    def _send(
        self, request_id: str, owner: str, data: bytes, reply: Reply, *, stored: bool
    ) -> None:
        """Send the dispatch request of the route `request_id` (registered) to `owner`."""
        subject = self.transport.subject("route", owner, "dispatch")
        ref = self.ref

        undelivered: list[Answered] = []  # the mailbox was full: the helper task sends it

        def on_answer(answer: bytes | TransportError) -> None:  # asyncio side
            answered = Answered(request_id, reply, _answer_error(answer))
            try:
                ref.tell(answered)
            except MailboxFull:
                undelivered.append(answered)
            except ActorStopped:
                pass

        try:  # queued in this step: nothing waits for a task to start before it leaves
            pending = self.transport.send_request(subject, data, on_answer)
        except MessageTooLarge:
            error = ProviderUnavailable("the request is too large to cross to another replica")
        except TransportError as exc:
            error = ProviderUnavailable(f"the owning replica is unreachable: {exc}")
        else:
            timeout = DISPATCH_TIMEOUT_S + (OBJECT_TIMEOUT_S if stored else 0.0)
            self.start_task(
                self._await_owner, request_id, pending, reply, undelivered, timeout, stored
            )
            return
        self._answered(request_id, reply, error)
        if stored:
            self.start_task(self._discard_body, request_id)

    async def _await_owner(
        self, request_id: str, pending: PendingRequest, reply: Reply, undelivered: list[Answered],
        timeout: float, stored: bool,
    ) -> None:  # fmt: skip
        """Bound the wait for the owner's answer; the answer itself (or the transport's
        failure) reaches the actor through the callback given in `_send`, or from
        here if the mailbox was full then. Then a stored body is deleted: the owner
        answered (it read it first, or refused), or it is too late for it."""
        try:
            await pending.wait(timeout)
        except TransportTimeout:
            undelivered.append(Answered(request_id, reply, AskTimeout(pending.subject, timeout)))
        except TransportError:
            pass  # the callback has it
        for answered in undelivered:
            with contextlib.suppress(ActorStopped):
                await self.ref.send(answered)
        if stored:
            await self._discard_body(request_id)

    def _answered(self, request_id: str, reply: Reply, error: BaseException | None) -> None:
        route = self.routes.get(request_id)
        if route is None or route.reply is not reply:
            reply.fail(ProviderUnavailable("the stream ended before the owner answered"))
            return
        route.reply = None
        if error is None:
            self.counters["dispatched"] += 1
            reply.set(True)
            return
        self.counters["refused"] += 1
        reply.fail(error)
        # A refusal ran nothing; after a timeout it may run: cancel it at the owner.
        self._end(request_id, None, cancel=isinstance(error, AskTimeout))

    def _on_batch(self, request_id: str, data: bytes) -> None:
        route = self.routes.get(request_id)
        if route is None:
            self.counters["late"] += 1  # cancelled or ended here already
            return
        self.counters["batches"] += 1
        try:
            seq, items = load_batch(data)
        except WireError as exc:
            self._end(request_id, vanished_end(route.tokens, str(exc)), cancel=True)
            return
        if seq != route.seq + 1:
            self.counters["gaps"] += 1
            end = vanished_end(route.tokens, "part of the stream was lost between replicas")
            self._end(request_id, end, cancel=True)
            return
        route.seq = seq
        for item in items:
            if type(item) is StreamEnd:
                self._end(request_id, item, cancel=False)
                return
            assert type(item) is StreamChunk
            route.tokens += item.tokens
            try:
                route.stream.send_nowait(item)
            except trio.WouldBlock:
                self.counters["too_slow"] += 1
                log.info("request %s: consumer too slow, cancelling it", request_id)
                self._end(request_id, None, cancel=True)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._end(request_id, None, cancel=True)
                return

    def _end(self, request_id: str, end: StreamEnd | None, *, cancel: bool) -> None:
        """Close the request's stream (after `end`, if any); `cancel`: tell the owner."""
        route = self.routes.pop(request_id)
        if end is not None:
            with contextlib.suppress(
                trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
            ):
                route.stream.send_nowait(end)
        route.stream.close()
        if route.reply is not None:
            route.reply.fail(ProviderUnavailable(end.error_message if end else "cancelled"))
        if cancel:
            with contextlib.suppress(TransportError):
                subject = self.transport.subject("route", route.replica, "cancel")
                self.transport.publish(subject, dump_cancel(request_id))


def _answer_error(answer: bytes | TransportError) -> BaseException | None:
    """The owner's answer (or the transport's failure) as the dispatch's error, if any."""
    if isinstance(answer, TransportError):
        return ProviderUnavailable(f"the owning replica is unreachable: {answer}")
    try:
        ok, why = load_answer(answer)
    except WireError as exc:
        return ProviderUnavailable(f"the owning replica is unreachable: {exc}")
    return None if ok else ProviderUnavailable(f"the owning replica refused: {why}")


__all__ = ["Answered", "Batch", "RemoteProviderActor", "ReplicaLapsed"]
