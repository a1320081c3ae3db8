"""Remote actor refs: `tell` and `ask` actors of another ActorSystem over a transport.

Each system that takes part runs a `RemoteEndpoint` named for its node (a replica id):

    endpoint = RemoteEndpoint(system, transport, node="a", registry=registry,
                              liveness=membership)
    nursery.start(endpoint.run)                  # serves this system's actors to others
    ref = endpoint.ref("b", "/root/counter")     # a RemoteRef (an ActorRef if node == "a")
    ref.tell(Add(1)); total = await ref.ask(Get(), timeout=2)

Semantics, the same as local refs where the network allows:

- `ask` is request/reply on `<ns>.actors.<node>`; the handler's value comes back, or
  its exception (registered error types are rebuilt, others arrive as `RemoteError`).
  No reply in `timeout` → `AskTimeout`. The remote actor stopped (or never existed) →
  `ActorStopped`. The remote *system* gone → `ActorStopped`: at once when nobody serves
  its subject any more, and at the latest when `liveness` says its node lapsed (asks in
  flight to it are cut short then, and new ones refused).
- `tell` is fire and forget, at most once: a full remote mailbox or a missing actor is a
  dead letter on the far side (counted in `RemoteStats`), never an error here. Tells and
  asks travel on one subject per node and enter the mailbox in arrival order, so what
  one system sends one actor is handled in the order it was sent (an ask that finds
  the mailbox full waits for room, within its timeout, as a local ask does).
- A reply that arrives after the asker gave up is dropped: resources granted in a remote
  reply need a lease or a confirmation of their own (unlike local `Reply.on_lost`).

Messages cross as JSON through an explicit `MessageRegistry` (see `wire.py`); no pickle.
The transport is any object with the small `RemoteTransport` interface below (the
cluster's NATS transport is one); its `request` raises `TimeoutError` when no reply
came and `ConnectionError` when the far side cannot be reached. This module knows
nothing of what the actors do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from .actor import DEFAULT_ASK_TIMEOUT, ActorRef, Ask, Reply
from .errors import ActorStopped, AskTimeout, MailboxFull
from .system import ActorSystem
from .wire import MessageRegistry

log = logging.getLogger(__name__)

MAX_REMOTE_ASKS = 10_000  # asks served at once; more are answered MailboxFull
MAX_ASK_TIMEOUT_S = 600.0  # a remote asker cannot make us wait longer than this
SUBSCRIPTION_BUFFER = 8192


class RemoteTransport(Protocol):
    """What remote refs need of a message transport (subjects, publish, request, subscribe)."""

    def subject(self, *parts: str) -> str: ...

    def publish(self, subject: str, data: bytes) -> None: ...

    async def request(self, subject: str, data: bytes, *, timeout: float) -> bytes: ...

    def subscribe(
        self, subject: str, *, queue: str | None = None, buffer: int = 1024
    ) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Any]]: ...

    def reply(self, message: Any, data: bytes) -> None: ...


class Liveness(Protocol):
    """Which nodes are up (a cluster's membership)."""

    def is_live(self, node: str) -> bool: ...

    async def wait_changed(self) -> None: ...


@dataclass
class RemoteStats:
    """What an endpoint served and dropped."""

    tells_in: int = 0
    asks_in: int = 0
    dead_letters: int = 0  # remote tells to a full mailbox or a missing actor
    malformed: int = 0  # messages that did not decode
    refused_asks: int = 0  # over MAX_REMOTE_ASKS


class RemoteRef:
    """A ref to an actor of another system; `tell`/`ask` like `ActorRef`."""

    __slots__ = ("_endpoint", "node", "path")

    def __init__(self, endpoint: RemoteEndpoint, node: str, path: str) -> None:
        self._endpoint = endpoint
        self.node = node
        self.path = path

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def label(self) -> str:
        return f"{self.node}:{self.path}"

    @property
    def alive(self) -> bool:
        """False once the node is known to be gone (the actor itself may be gone sooner)."""
        return self._endpoint.node_live(self.node)

    def tell(self, msg: Any) -> None:
        """Fire and forget, at most once (see the module docstring)."""
        endpoint = self._endpoint
        if not self.alive:
            endpoint.system.dead_letter(self.label, msg)
            return
        subject = endpoint.subject(self.node)
        endpoint.transport.publish(subject, endpoint.pack(self.path, msg))

    async def send(self, msg: Any) -> None:
        """`tell`, but `ActorStopped` when the node is known to be gone."""
        if not self.alive:
            raise ActorStopped(self.label)
        self.tell(msg)

    async def tell_or_send(self, msg: Any, timeout: float | None = None) -> bool:
        """`tell`; True unless the node is known to be gone (then a dead letter)."""
        self.tell(msg)
        return self.alive

    async def ask(self, msg: Any, timeout: float = DEFAULT_ASK_TIMEOUT) -> Any:
        """Request/reply with the remote actor: its reply, or its error raised here."""
        return await self._endpoint.ask(self, msg, timeout)

    def __repr__(self) -> str:
        return f"<RemoteRef {self.label}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteRef) and (other.node, other.path) == (self.node, self.path)

    def __hash__(self) -> int:
        return hash((self.node, self.path))


AnyRef = ActorRef | RemoteRef  # what code that may hold either kind of ref types it as


class RemoteEndpoint:
    """Serves one system's actors to other nodes and makes refs to theirs."""

    def __init__(
        self,
        system: ActorSystem,
        transport: RemoteTransport,
        node: str,
        registry: MessageRegistry,
        liveness: Liveness | None = None,
    ) -> None:
        self.system = system
        self.transport = transport
        self.node = node
        self.registry = registry
        self.liveness = liveness
        self.stats = RemoteStats()
        self._asking: dict[str, set[trio.CancelScope]] = {}
        self._serving = 0

    # -- refs ------------------------------------------------------------------------------

    def ref(self, node: str, path: str) -> AnyRef:
        """A ref to the actor at `path` on `node` (a local ActorRef for this node)."""
        if node == self.node:
            try:
                return self.system.lookup(path)
            except LookupError:
                pass  # asks to it answer ActorStopped, through the transport
        return RemoteRef(self, node, path)

    def node_live(self, node: str) -> bool:
        return node == self.node or self.liveness is None or self.liveness.is_live(node)

    def subject(self, node: str) -> str:
        return self.transport.subject("actors", node)

    # -- encoding ----------------------------------------------------------------------------

    def pack(self, path: str, msg: Any, timeout: float | None = None) -> bytes:
        body: dict[str, Any] = {"p": path, "m": self.registry.encode(msg, self._encode_ref)}
        if timeout is not None:
            body["t"] = min(timeout, MAX_ASK_TIMEOUT_S)
        return json.dumps(body, separators=(",", ":")).encode()

    def _encode_ref(self, value: Any) -> list[str] | None:
        if isinstance(value, RemoteRef):
            return [value.node, value.path]
        if isinstance(value, ActorRef):
            return [self.node, value.path]
        return None

    def _decode(self, data: Any) -> Any:
        return self.registry.decode(data, self.ref)

    def _reply_bytes(self, body: dict[str, Any]) -> bytes:
        return json.dumps(body, separators=(",", ":")).encode()

    # -- asking ------------------------------------------------------------------------------

    async def ask(self, ref: RemoteRef, msg: Any, timeout: float) -> Any:
        if not self.node_live(ref.node):
            raise ActorStopped(ref.label)
        data = self.pack(ref.path, msg, timeout)
        scopes = self._asking.setdefault(ref.node, set())
        raw: bytes | None = None
        with trio.CancelScope() as scope:
            scopes.add(scope)
            try:
                raw = await self.transport.request(self.subject(ref.node), data, timeout=timeout)
            except TimeoutError:
                raise AskTimeout(ref.label, timeout) from None
            except ConnectionError:
                raise ActorStopped(ref.label) from None
            finally:
                scopes.discard(scope)
                if not scopes:
                    self._asking.pop(ref.node, None)
        if raw is None:  # cancelled by `_watch_liveness`: the node lapsed
            raise ActorStopped(ref.label)
        return self._answer(ref, raw)

    def _answer(self, ref: RemoteRef, raw: bytes) -> Any:
        try:
            body = json.loads(raw)
            if "ok" in body:
                return self._decode(body["ok"])
        except (ValueError, TypeError, AttributeError) as exc:
            raise ActorStopped(f"{ref.label} (malformed reply: {exc})") from None
        if "stopped" in body:
            raise ActorStopped(ref.label)
        raise self.registry.decode_error(body.get("error"))

    async def _watch_liveness(self) -> None:
        """Cut asks short, with ActorStopped, when their node lapses."""
        liveness = self.liveness
        if liveness is None:
            return
        while True:
            await liveness.wait_changed()
            for node, scopes in list(self._asking.items()):
                if not liveness.is_live(node):
                    for scope in scopes:
                        scope.cancel()

    # -- serving -----------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve this node's actors until cancelled."""
        async with (
            self.transport.subscribe(self.subject(self.node), buffer=SUBSCRIPTION_BUFFER) as inbox,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(self._watch_liveness)
            task_status.started()
            async for message in inbox:
                self._serve(message, nursery)

    def _serve(self, message: Any, nursery: trio.Nursery) -> None:
        """One tell (no reply subject) or ask; both enter the mailbox here, in arrival order."""
        asking = message.reply is not None
        if asking:
            self.stats.asks_in += 1
        else:
            self.stats.tells_in += 1
        try:
            path, msg, timeout = self._unpack(message.data)
        except ValueError as exc:
            self.stats.malformed += 1
            log.warning("remote message to %s dropped: %s", self.node, exc)
            if asking:
                self.transport.reply(message, self._error_reply(exc))
            return
        try:
            ref = self.system.lookup(path)
        except LookupError:
            ref = None
        if not asking:
            try:
                if ref is None:
                    raise LookupError(path)
                ref.tell(msg)
            except (LookupError, MailboxFull):
                self.stats.dead_letters += 1
                self.system.dead_letter(path, msg)
            return
        if ref is None or not ref.alive:
            self.transport.reply(message, self._reply_bytes({"stopped": path}))
            return
        if self._serving >= MAX_REMOTE_ASKS:
            self.stats.refused_asks += 1
            error = MailboxFull(f"{self.node} (remote asks)", MAX_REMOTE_ASKS)
            self.transport.reply(message, self._error_reply(error))
            return
        envelope = Ask(msg, Reply())
        try:
            ref.tell(envelope)
            queued = True
        except MailboxFull:
            queued = False  # wait for room, like a local ask, within the timeout
        self._serving += 1
        nursery.start_soon(self._answer_ask, message, ref, envelope, queued, timeout)

    async def _answer_ask(
        self, message: Any, ref: ActorRef, envelope: Ask, queued: bool, timeout: float
    ) -> None:
        reply = envelope.reply
        try:
            with trio.move_on_after(timeout):
                if not queued:
                    await ref.send(envelope)
                await reply.event.wait()
            if not reply.event.is_set():
                reply.abandon()
                body = self._error_reply(AskTimeout(ref.path, timeout))
            elif isinstance(reply.error, ActorStopped):
                body = self._reply_bytes({"stopped": ref.path})
            elif reply.error is not None:
                body = self._error_reply(reply.error)
            else:
                try:
                    encoded = self.registry.encode(reply.value, self._encode_ref)
                    body = self._reply_bytes({"ok": encoded})
                except TypeError as exc:
                    body = self._error_reply(exc)
        except ActorStopped:
            body = self._reply_bytes({"stopped": ref.path})
        finally:
            self._serving -= 1
        self.transport.reply(message, body)

    def _error_reply(self, error: BaseException) -> bytes:
        return self._reply_bytes({"error": self.registry.encode_error(error)})

    def _unpack(self, data: bytes) -> tuple[str, Any, float]:
        try:
            body = json.loads(data)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("p"), str) or "m" not in body:
            raise ValueError("not a remote actor message")
        timeout = body.get("t", DEFAULT_ASK_TIMEOUT)
        if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_ASK_TIMEOUT_S:
            raise ValueError("bad ask timeout")
        return body["p"], self._decode(body["m"]), float(timeout)


@asynccontextmanager
async def remote_endpoint(
    system: ActorSystem,
    transport: RemoteTransport,
    node: str,
    registry: MessageRegistry,
    liveness: Liveness | None = None,
) -> AsyncIterator[RemoteEndpoint]:
    """A running `RemoteEndpoint` for the block's duration."""
    endpoint = RemoteEndpoint(system, transport, node, registry, liveness)
    async with trio.open_nursery() as nursery:
        await nursery.start(endpoint.run)
        try:
            yield endpoint
        finally:
            nursery.cancel_scope.cancel()
