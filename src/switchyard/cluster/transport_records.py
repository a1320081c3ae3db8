"""What the cluster transport hands out and counts: received messages, KV entries,
counters, pending requests, a hand-driven coroutine's rest; its bounds; subject-token,
KV-key and URL helpers.

Nothing here imports nats-py (`transport.py` does).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from .errors import TransportError, TransportTimeout

if TYPE_CHECKING:
    from .transport import Transport

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^(\*|>|[^\s.*>]{1,128})$")  # one subject token (or a wildcard)
KEY_RE = re.compile(r"^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$")  # a KV key
MAX_QUEUED_MESSAGES = 65_536  # publish queue bounds (then messages are shed)
MAX_QUEUED_BYTES = 64 * 1024 * 1024
MAX_PENDING_REQUESTS = 10_000
DIRECT_PUBLISH_BYTES = 256 * 1024  # nats-py's unflushed bytes up to which publish is direct
CALL_TIMEOUT_S = 5.0  # subscribe / KV / close crossings
NO_RESPONDERS = "503"  # the status of the server's "no responders" reply


@dataclass(frozen=True, slots=True)
class Message:
    """One message received on a subscription; `reply` is where an answer goes, if any."""

    subject: str
    data: bytes
    reply: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """A KV value and its revision (for `KeyValue.update`)."""

    value: bytes
    revision: int


@dataclass
class TransportStats:
    """Counters of what the transport did and dropped (read by metrics and tests)."""

    published: int = 0
    publish_shed: int = 0  # queue full, or not connected
    publish_errors: int = 0  # nats-py refused a queued message
    received: int = 0
    receive_shed: int = 0  # a subscriber's channel was full
    requests: int = 0
    request_timeouts: int = 0
    no_responders: int = 0
    disconnects: int = 0
    reconnects: int = 0
    objects_put: int = 0  # object store puts, gets and deletes that succeeded
    objects_got: int = 0
    objects_deleted: int = 0


ReplyCallback = Callable[[bytes | TransportError], None]


class PendingRequest:
    """A request sent by `Transport.send_request`, waiting for its reply.

    `wait` returns the reply (or raises); `on_reply`, if given, is also called with the
    reply (or the TransportError) the moment it arrives, synchronously, before any
    waiter wakes: a caller that only forwards it (e.g. `ActorRef.tell`) saves a
    scheduling round. Neither happens after `wait` timed out.
    """

    __slots__ = ("_token", "_transport", "data", "error", "event", "on_reply", "subject")

    def __init__(
        self, transport: Transport, token: str, subject: str, on_reply: ReplyCallback | None
    ) -> None:
        self.event = trio.Event()
        self.data = b""
        self.error: TransportError | None = None
        self.on_reply = on_reply
        self.subject = subject
        self._token = token
        self._transport = transport

    def _deliver(self, data: bytes, error: TransportError | None) -> None:
        if self.event.is_set():
            return
        self.data, self.error = data, error
        self.event.set()
        self._transport._pending.pop(self._token, None)
        if self.on_reply is not None:
            try:
                self.on_reply(data if error is None else error)
            except Exception:  # a callback must not break the transport's receiving
                log.exception("nats: reply callback for %s failed", self.subject)

    async def wait(self, timeout: float) -> bytes:
        """The reply. Raises TransportTimeout, or TransportUnavailable (no responders,
        disconnected, closed)."""
        try:
            with trio.move_on_after(timeout):
                await self.event.wait()
            if not self.event.is_set():
                self._transport.stats.request_timeouts += 1
                raise TransportTimeout(f"no reply on {self.subject} within {timeout:g}s")
            if self.error is not None:
                raise self.error
            return self.data
        finally:
            self._transport._pending.pop(self._token, None)


def check_token(part: str) -> str:
    if not TOKEN_RE.match(part):
        raise ValueError(f"invalid subject token {part!r}")
    return part


def redact(url: str) -> str:
    """`url` without its credentials (`nats://user:secret@host` → `nats://***@host`)."""
    scheme, sep, rest = url.rpartition("://")
    _, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at else url


def check_key(key: str) -> str:
    if len(key) > 1024 or not KEY_RE.match(key):
        raise ValueError(f"invalid KV key {key!r}")
    return key


class Resume:
    """Awaitable: the rest of a coroutine that was driven by hand until it first waited
    (`waiting` is what it yielded); lets an asyncio task finish it."""

    __slots__ = ("coro", "waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro = coro
        self.waiting = waiting

    def __await__(self) -> Generator[Any, Any, None]:
        waiting = self.waiting
        while True:
            try:
                value = yield waiting
            except BaseException as exc:
                try:
                    waiting = self.coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting = self.coro.send(value)
                except StopIteration:
                    return
