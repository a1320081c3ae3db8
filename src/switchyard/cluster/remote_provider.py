"""RemoteProviderActor: this replica's stand-in for every provider connected elsewhere.

The scheduler indexes a remote provider with this actor's ref, so `RelaySession` talks to
it exactly as to a local provider actor: `Dispatch` (asked) and `Cancel` (told).

- `Dispatch` (with `remote` set) becomes one NATS request to the owning replica's
  `route.<owner>.dispatch`, queued while handling the `Dispatch` and answered once the
  owner's scheduler confirmed the slot and its provider actor took the request; the
  answer goes straight from the transport's callback into this actor's mailbox (a
  helper task only bounds the wait). A refusal (the slot was taken meanwhile, the provider
  left, the body is over NATS's max_payload, nobody answers) is `ProviderUnavailable`, so
  the relay tries the next candidate; no answer in time is `AskTimeout` (the relay then
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
from .errors import MessageTooLarge, TransportError, TransportTimeout
from .routing_wire import WireError, dump_cancel, dump_dispatch, load_answer, load_batch
from .transport import Message, PendingRequest, Transport

log = logging.getLogger(__name__)

DISPATCH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Answered:
    """Internal: the owner answered (or did not) the dispatch of `request_id`."""

    request_id: str
    reply: Reply
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


COUNTERS = ("dispatched", "refused", "batches", "gaps", "late", "too_slow", "lapsed", "cancelled")


class RemoteProviderActor(Actor):
    """The stand-in for remote providers (see the module docstring)."""

    def __init__(self, transport: Transport, replica_id: str, limit: int = MAX_REMOTE_STREAMS):
        self.transport = transport
        self.replica_id = replica_id
        self.limit = limit
        self.routes: dict[str, _Route] = {}
        self.counters = dict.fromkeys(COUNTERS, 0)

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
        data = dump_dispatch(
            msg.request_id, self.replica_id, reservation.provider_id, msg.body_json,
            msg.deadline_unix, reserve, msg.kind,
        )  # fmt: skip
        subject = self.transport.subject("route", owner, "dispatch")
        reply = self.defer()
        request_id = msg.request_id
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
            reply.fail(ProviderUnavailable("the request is too large to cross to another replica"))
            return
        except TransportError as exc:
            reply.fail(ProviderUnavailable(f"the owning replica is unreachable: {exc}"))
            return
        self.routes[request_id] = _Route(owner, msg.stream, reply)
        self.start_task(self._await_owner, request_id, pending, reply, undelivered)

    async def _await_owner(
        self, request_id: str, pending: PendingRequest, reply: Reply, undelivered: list[Answered]
    ) -> None:
        """Bound the wait for the owner's answer; the answer itself (or the transport's
        failure) reaches the actor through the callback given in `_dispatch`, or from
        here if the mailbox was full then."""
        try:
            await pending.wait(DISPATCH_TIMEOUT_S)
        except TransportTimeout:
            undelivered.append(
                Answered(request_id, reply, AskTimeout(pending.subject, DISPATCH_TIMEOUT_S))
            )
        except TransportError:
            pass  # the callback has it
        for answered in undelivered:
            with contextlib.suppress(ActorStopped):
                await self.ref.send(answered)

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
