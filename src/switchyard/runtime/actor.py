"""Actor base class, ActorRef handles, and the envelopes that travel in mailboxes.

An actor's state is plain attributes touched only by its own task. Other code holds an
`ActorRef`, which resolves through the actor's *cell* (see `cell.py`): the cell, and so
the ref, survives restarts of the actor instance.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from .errors import ActorStopped, AskTimeout, MailboxFull, UnhandledMessage

if TYPE_CHECKING:
    from .cell import ActorCell
    from .system import ActorSystem

log = logging.getLogger(__name__)

DEFAULT_ASK_TIMEOUT = 5.0


class Reply:
    """A one-shot reply slot carried by an ask envelope.

    An actor that answers later (see `Actor.defer`) keeps this object and calls `set` or
    `fail` when ready. `abandoned` turns true when the asker stopped waiting (timeout or
    cancellation); a value set with `on_lost` that the asker never took is handed to
    `on_lost`, so resources granted in a reply are never leaked.
    """

    __slots__ = ("abandoned", "error", "event", "on_lost", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        self.on_lost: Callable[[Any], None] | None = None

    def set(self, value: Any, on_lost: Callable[[Any], None] | None = None) -> bool:
        """Deliver `value`; False (and `on_lost(value)` is called) if nobody is waiting."""
        if self.event.is_set():
            return False
        if self.abandoned:
            if on_lost is not None:
                on_lost(value)
            return False
        self.value = value
        self.on_lost = on_lost
        self.event.set()
        return True

    def fail(self, error: BaseException) -> None:
        if not self.event.is_set():
            self.error = error
            self.event.set()

    def abandon(self) -> None:
        """The asker gives up; a value already set but never taken goes to `on_lost`."""
        self.abandoned = True
        if self.event.is_set() and self.error is None and self.on_lost is not None:
            lost, self.on_lost = self.on_lost, None
            lost(self.value)


class Ask:
    """Mailbox envelope for a request that expects a reply."""

    __slots__ = ("msg", "reply")

    def __init__(self, msg: Any, reply: Reply) -> None:
        self.msg = msg
        self.reply = reply


class StopSignal:
    """Mailbox sentinel: finish what was queued before me, then exit normally."""

    __slots__ = ()


STOP = StopSignal()


class ActorRef:
    """The only handle other code holds on an actor; valid across its restarts."""

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell

    @property
    def path(self) -> str:
        return self._cell.path

    @property
    def name(self) -> str:
        return self._cell.name

    @property
    def alive(self) -> bool:
        """False once the actor is stopped for good (never again restarted)."""
        return not self._cell.closed

    def tell(self, msg: Any) -> None:
        """Fire and forget. Raises `MailboxFull` on overflow; a dead target counts a dead letter."""
        cell = self._cell
        try:
            cell.send_channel.send_nowait(msg)
        except trio.WouldBlock:
            raise MailboxFull(cell.path, cell.capacity) from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            cell.system.dead_letter(cell.path, msg)

    async def send(self, msg: Any) -> None:
        """Deliver `msg`, waiting for mailbox room. Raises `ActorStopped` if the actor is gone."""
        cell = self._cell
        try:
            await cell.send_channel.send(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            cell.system.dead_letter(cell.path, msg)
            raise ActorStopped(cell.path) from None

    async def tell_or_send(self, msg: Any, timeout: float | None = None) -> bool:
        """Tell `msg` if the mailbox has room (no scheduling point), else wait for room.

        Without `timeout` the wait is an ordinary cancellable `send`. With one, the wait is
        shielded from the caller's cancellation and bounded by `timeout` seconds: for a
        message that must still go out from a task being cancelled (handing back what it
        holds). True once `msg` is in the mailbox; False (counted as a dead letter) if the
        actor is gone or no room came in time. Never raises `MailboxFull`/`ActorStopped`.
        """
        try:
            self.tell(msg)
        except MailboxFull:
            pass
        else:
            return self.alive  # tell() dead-letters, rather than raises, for a gone actor
        if timeout is None:
            return await self._send_or_drop(msg)
        with trio.CancelScope(shield=True), trio.move_on_after(timeout):
            return await self._send_or_drop(msg)
        log.warning(
            "%s: no mailbox room within %gs, dropped %s", self.path, timeout, type(msg).__name__
        )
        self._cell.system.dead_letter(self.path, msg)
        return False

    async def _send_or_drop(self, msg: Any) -> bool:
        try:
            await self.send(msg)
        except ActorStopped:
            return False
        return True

    async def ask(self, msg: Any, timeout: float = DEFAULT_ASK_TIMEOUT) -> Any:
        """Request/reply: the handler's return value, or its exception re-raised here.

        Raises `AskTimeout` when no reply comes within `timeout` seconds (waiting for
        mailbox room counts against it) and `ActorStopped` when the actor is gone.
        """
        reply = Reply()
        taken = False
        try:
            with trio.move_on_after(timeout) as scope:
                await self.send(Ask(msg, reply))
                await reply.event.wait()
            if scope.cancelled_caught:
                raise AskTimeout(self._cell.path, timeout)
            if reply.error is not None:
                raise reply.error
            taken = True
            return reply.value
        finally:
            if not taken:
                reply.abandon()

    def __repr__(self) -> str:
        return f"<ActorRef {self._cell.path}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._cell is self._cell

    def __hash__(self) -> int:
        return id(self._cell)


class Actor:
    """Base class of every actor.

    Override `handle` (dispatch with `match` on message dataclasses); its return value is
    the reply to an `ask`. A `Refusal` raised by `handle` goes back to the asker and the
    actor carries on; any other exception crashes the actor (its supervisor decides
    whether to restart it) and, for an `ask`, is also re-raised at the asker.
    `on_start`/`on_stop` bracket each instance's life; `describe` feeds inspection.
    """

    _cell: ActorCell
    _nursery: trio.Nursery

    @property
    def ref(self) -> ActorRef:
        return self._cell.ref

    @property
    def system(self) -> ActorSystem:
        return self._cell.system

    async def on_start(self) -> None:
        """Called in the actor's task before the first message."""

    async def on_stop(self) -> None:
        """Called in the actor's task when the instance ends, for any reason (shielded)."""

    async def handle(self, msg: Any) -> Any:
        raise UnhandledMessage(f"{type(self).__name__} does not handle {type(msg).__name__}")

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable summary of this actor's state for inspection."""
        return {}

    def defer(self) -> Reply:
        """Answer the current `ask` later: keep the returned slot and `set`/`fail` it.

        The handler's return value is then ignored. Only valid while handling an ask.
        """
        reply = self._cell.current_reply
        if reply is None:
            raise RuntimeError("defer() called outside an ask")
        self._cell.deferred = True
        return reply

    def stop(self) -> None:
        """Exit normally after the current message (a transient child is not restarted)."""
        self._cell.stop_requested = True

    def start_task(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a helper task that lives as long as this instance.

        The task must only talk to the actor by messages. If it raises, the actor crashes.
        """
        cell = self._cell

        async def guarded() -> None:
            try:
                await fn(*args)
            except Exception as exc:
                cell.fail_from_task(exc)

        self._nursery.start_soon(guarded)

    def send_after(self, delay: float, msg: Any) -> trio.CancelScope:
        """Tell `msg` to this actor after `delay` seconds; cancel the returned scope to abort."""
        scope = trio.CancelScope()
        ref = self.ref

        async def timer() -> None:
            with scope:
                await trio.sleep(delay)
                await ref.tell_or_send(msg)

        self._nursery.start_soon(timer)
        return scope


__all__ = ["DEFAULT_ASK_TIMEOUT", "Actor", "ActorRef", "ActorStopped", "Ask", "Reply"]
