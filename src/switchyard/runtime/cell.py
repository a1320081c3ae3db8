"""ActorCell: the durable home of one named actor — mailbox, stats, and its run loop.

A cell outlives the actor instances it runs: a restart replaces the instance but keeps the
cell, its mailbox and its `ActorRef`. A cell is closed only when its actor stops for good;
then what is left in its mailbox becomes dead letters (pending asks get `ActorStopped`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from .actor import Actor, ActorRef, Ask, Reply, StopSignal
from .errors import ActorStopped, Refusal

if TYPE_CHECKING:
    from .system import ActorSystem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastError:
    """The most recent crash of an actor, for inspection."""

    type: str
    message: str
    at: float  # unix time

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "at": self.at}


class ActorCell:
    """Mailbox, statistics and lifecycle of one named actor (see module docstring)."""

    def __init__(
        self,
        system: ActorSystem,
        parent: ActorCell | None,
        name: str,
        factory: Callable[[], Actor],
        capacity: int,
        shutdown_timeout: float,
    ) -> None:
        self.system = system
        self.parent = parent
        self.name = name
        self.path: str = f"{parent.path}/{name}" if parent else f"/{name}"
        self.factory = factory
        self.capacity = capacity
        self.shutdown_timeout = shutdown_timeout
        self.send_channel, self.receive_channel = trio.open_memory_channel[Any](capacity)
        self.ref = ActorRef(self)
        self.children: dict[str, ActorCell] = {}
        self.instance: Actor | None = None
        self.status = "new"
        self.closed = False
        self.handled = 0
        self.restarts = 0
        self.last_error: LastError | None = None
        self.started_at = 0.0
        self.stop_requested = False
        self.exited = trio.Event()
        self.started = trio.Event()
        self._task_error: BaseException | None = None
        self._scope: trio.CancelScope | None = None
        self.current_reply: Reply | None = None
        self.deferred = False

    # -- lifecycle -------------------------------------------------------------------

    async def run_once(
        self, delay: float = 0.0, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> BaseException | None:
        """Run one instance until it exits; return its crash error, or None if it exited normally.

        `task_status.started()` is called once `on_start` has returned (or the start failed),
        so a supervisor can start children one after another. Never raises an `Exception`;
        cancellation from outside propagates after `on_stop`.
        """
        if self.exited.is_set():
            self.exited = trio.Event()
        if self.started.is_set():
            self.started = trio.Event()
        self.stop_requested = False
        self._task_error = None
        error: BaseException | None = None
        instance: Actor | None = None
        try:
            if delay > 0:  # backing off; `kill` cancels the wait: then it never starts
                self.status = "restarting"
                with trio.CancelScope() as backoff:
                    self._scope = backoff
                    await trio.sleep(delay)
                self._scope = None
                if backoff.cancelled_caught:
                    return None
            self.status = "starting"
            instance = self.factory()
            instance._cell = self
            self.instance = instance
            self.started_at = time.monotonic()
            with trio.CancelScope() as scope:
                self._scope = scope
                async with trio.open_nursery() as nursery:
                    instance._nursery = nursery
                    try:
                        await instance.on_start()
                        self.status = "running"
                        self.started.set()
                        task_status.started()
                        await self._loop(instance)
                    except Exception as exc:
                        error = exc
                    finally:
                        nursery.cancel_scope.cancel()
            if self._task_error is not None:
                error = self._task_error
        except Exception as exc:  # the factory itself failed
            error = exc
        finally:
            self.status = "stopping"
            if instance is not None:
                error = await self._call_on_stop(instance, error)
            if self.current_reply is not None and not self.deferred:
                self.current_reply.fail(error or ActorStopped(self.path))
            self.current_reply = None
            if error is not None:
                self.record_error(error)
            self.status = "crashed" if error is not None else "exited"
            self._scope = None
            self.exited.set()
            if not self.started.is_set():
                self.started.set()
                task_status.started()
        return error

    async def _loop(self, instance: Actor) -> None:
        receive = self.receive_channel.receive
        handle = instance.handle
        while not self.stop_requested:
            try:
                item = await receive()
            except trio.EndOfChannel:
                return
            kind = type(item)
            if kind is Ask:
                self.current_reply = reply = item.reply
                self.deferred = False
                try:
                    result = await handle(item.msg)
                except Refusal as exc:
                    reply.fail(exc)
                except Exception as exc:
                    reply.fail(exc)
                    raise
                else:
                    if not self.deferred:
                        reply.set(result)
                finally:
                    self.current_reply = None
            elif kind is StopSignal:
                return
            else:
                await handle(item)
            self.handled += 1

    async def _call_on_stop(
        self, instance: Actor, error: BaseException | None
    ) -> BaseException | None:
        with trio.CancelScope(shield=True), trio.move_on_after(self.shutdown_timeout):
            try:
                await instance.on_stop()
            except Exception as exc:
                log.warning("%s: on_stop raised %r", self.path, exc)
                return error or exc
        return error

    def fail_from_task(self, error: BaseException) -> None:
        """A helper task of the instance raised: crash the instance with that error."""
        if self._task_error is None:
            self._task_error = error
        if self._scope is not None:
            self._scope.cancel()

    def kill(self) -> None:
        """Cancel the running instance at once (its `on_stop` still runs)."""
        if self._scope is not None:
            self._scope.cancel()

    def record_error(self, error: BaseException) -> None:
        self.last_error = LastError(type(error).__name__, str(error)[:500], time.time())
        log.warning("actor %s crashed: %s: %s", self.path, type(error).__name__, error)

    def close(self) -> None:
        """Stop for good: refuse new mail, and turn what is queued into dead letters."""
        if self.closed:
            return
        self.closed = True
        self.status = "stopped"
        self.instance = None
        self.send_channel.close()
        while True:
            try:
                item = self.receive_channel.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if type(item) is Ask:
                item.reply.fail(ActorStopped(self.path))
                self.system.dead_letter(self.path, item.msg)
            elif type(item) is not StopSignal:
                self.system.dead_letter(self.path, item)
        self.receive_channel.close()

    # -- inspection ------------------------------------------------------------------

    @property
    def mailbox_depth(self) -> int:
        return self.receive_channel.statistics().current_buffer_used

    @property
    def uptime_s(self) -> float:
        if self.status not in ("running", "starting") or not self.started_at:
            return 0.0
        return time.monotonic() - self.started_at

    def describe_instance(self) -> dict[str, Any]:
        if self.instance is None:
            return {}
        try:
            state = self.instance.describe()
        except Exception as exc:
            return {"describe_error": f"{type(exc).__name__}: {exc}"}
        return _jsonable_dict(state)


def _jsonable_dict(value: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): _jsonable(v) for k, v in value.items()}


def _jsonable(value: Any) -> Any:
    """Coerce a describe() result into plain JSON types (floats finite, keys strings)."""
    if isinstance(value, dict):
        return _jsonable_dict(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
