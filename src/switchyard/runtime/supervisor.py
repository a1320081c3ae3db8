"""Supervisor: owns its children's specs and tasks and restarts them by strategy.

Strategies (`Strategy`): `one_for_one` restarts only the failed child; `one_for_all`
stops every other child (in reverse start order) and restarts all of them in start
order; `rest_for_one` does that for the failed child and the ones started after it.

Restart types (`Restart`): `permanent` children are always restarted, `transient` ones
only after a crash, `temporary` ones never. More than `max_restarts` restarts within
`window_s` seconds makes the supervisor itself crash with `RestartIntensityExceeded`,
escalating to its parent. A child restarted again soon waits an exponential back-off
(`backoff_base` doubling up to `backoff_max`) so a crash loop cannot spin the CPU.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from .actor import STOP, Actor, ActorRef
from .cell import ActorCell
from .errors import ActorStopped, ChildExists, RestartIntensityExceeded


class Strategy(enum.StrEnum):
    """Which siblings are restarted along with a failed child."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Restart(enum.StrEnum):
    """When a child that exited is started again."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


@dataclass(frozen=True)
class ChildSpec:
    """How to start (and restart) one child."""

    name: str
    factory: Callable[[], Actor]
    restart: Restart = Restart.PERMANENT
    mailbox_size: int = 1024
    shutdown_timeout: float = 5.0


# -- messages a supervisor handles ---------------------------------------------------


@dataclass(frozen=True)
class StartChild:
    spec: ChildSpec


@dataclass(frozen=True)
class StopChild:
    name: str


@dataclass(frozen=True)
class WhichChildren:
    pass


@dataclass(frozen=True)
class ChildExited:
    name: str
    token: object
    error: BaseException | None


@dataclass
class _Running:
    cell: ActorCell
    token: object = field(default_factory=object)
    done: trio.Event = field(default_factory=trio.Event)
    stopping: bool = False


class Supervisor(Actor):
    """An actor whose job is starting, watching and restarting its children."""

    def __init__(
        self,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        window_s: float = 5.0,
        children: Sequence[ChildSpec] = (),
        backoff_base: float = 0.01,
        backoff_max: float = 1.0,
    ) -> None:
        self.strategy = Strategy(strategy)
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._initial = list(children)
        self._specs: dict[str, ChildSpec] = {}
        self._running: dict[str, _Running] = {}
        self._restarts: deque[float] = deque()
        self._child_restarts: dict[str, deque[float]] = {}

    async def on_start(self) -> None:
        wanted = {spec.name for spec in self._initial}
        for name, cell in list(self._cell.children.items()):
            if name not in wanted:  # dynamic children of a previous instance
                self.system.close_tree(cell)
        for spec in self._initial:
            await self._start(spec)

    async def on_stop(self) -> None:
        # Our nursery is already cancelled, so children are gone; only the tree remains.
        if self.system.shutting_down:
            for cell in list(self._cell.children.values()):
                self.system.close_tree(cell)

    async def handle(self, msg: Any) -> Any:
        match msg:
            case ChildExited(name=name, token=token, error=error):
                await self._child_exited(name, token, error)
            case StartChild(spec=spec):
                if spec.name in self._specs:
                    raise ChildExists(f"{self._cell.path}/{spec.name} already exists")
                return await self._start(spec)
            case StopChild(name=name):
                return await self._stop_child(name)
            case WhichChildren():
                return list(self._specs)
            case _:
                return await super().handle(msg)
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.value,
            "max_restarts": self.max_restarts,
            "window_s": self.window_s,
            "children": len(self._specs),
        }

    # -- starting and stopping -----------------------------------------------------------

    async def _start(self, spec: ChildSpec, delay: float = 0.0) -> ActorRef:
        """Start a child; without back-off delay, wait until its `on_start` has run."""
        cell = self._cell.children.get(spec.name)
        if cell is None or cell.closed:
            cell = self.system.new_cell(self._cell, spec)
        self._specs[spec.name] = spec
        run = _Running(cell)
        self._running[spec.name] = run
        await self._nursery.start(self._run_child, run, delay, name=cell.path)
        return cell.ref

    async def _run_child(
        self, run: _Running, delay: float, task_status: trio.TaskStatus[None]
    ) -> None:
        if delay > 0:  # backing off: do not hold the supervisor up meanwhile
            task_status.started()
            task_status = trio.TASK_STATUS_IGNORED
        try:
            error = await run.cell.run_once(delay, task_status)
        finally:
            run.done.set()
        if run.stopping:
            return
        try:
            await self.ref.send(ChildExited(run.cell.name, run.token, error))
        except ActorStopped:
            return

    async def _kill(self, name: str) -> None:
        run = self._running[name]
        run.stopping = True
        run.cell.kill()
        await run.done.wait()

    async def _stop_child(self, name: str) -> bool:
        """Stop a child for good: it drains its mailbox up to its shutdown timeout."""
        run = self._running.get(name)
        if run is None:
            return False
        run.stopping = True
        if run.cell.status in ("running", "starting"):
            with trio.move_on_after(self._specs[name].shutdown_timeout):
                await run.cell.ref.send(STOP)
                await run.done.wait()
        await self._kill(name)
        self._forget(name)
        return True

    def _forget(self, name: str) -> None:
        run = self._running.pop(name)
        self._specs.pop(name)
        self._child_restarts.pop(name, None)
        self.system.close_tree(run.cell)

    # -- restarts --------------------------------------------------------------------------

    async def _child_exited(self, name: str, token: object, error: BaseException | None) -> None:
        run = self._running.get(name)
        if run is None or run.token is not token:
            return  # stale report from a run we already replaced or stopped
        spec = self._specs[name]
        wanted = spec.restart is Restart.PERMANENT or (
            spec.restart is Restart.TRANSIENT and error is not None
        )
        if not wanted or self.system.shutting_down:
            self._forget(name)
            return
        self._count_restart()
        names = list(self._specs)
        if self.strategy is Strategy.ONE_FOR_ONE:
            group = [name]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            group = names
        else:
            group = names[names.index(name) :]
        for other in reversed(group):
            if other != name:
                await self._kill(other)
        for child in group:
            child_spec = self._specs[child]
            if child != name and child_spec.restart is Restart.TEMPORARY:
                self._forget(child)
                continue
            cell = self._running[child].cell
            cell.restarts += 1
            await self._start(child_spec, delay=self._backoff(child))

    def _count_restart(self) -> None:
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > self.window_s:
            self._restarts.popleft()
        if len(self._restarts) > self.max_restarts:
            raise RestartIntensityExceeded(
                f"{self._cell.path}: more than {self.max_restarts} restarts in {self.window_s:g}s"
            )

    def _backoff(self, name: str) -> float:
        now = time.monotonic()
        recent = self._child_restarts.setdefault(name, deque())
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        recent.append(now)
        if len(recent) <= 1:
            return 0.0
        return min(self.backoff_base * 2.0 ** (len(recent) - 2), self.backoff_max)
