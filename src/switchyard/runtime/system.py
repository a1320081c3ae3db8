"""ActorSystem: the root supervisor, the name registry, dead letters, and shutdown.

Use it as an async context manager::

    async with ActorSystem.open(children=[ChildSpec("counter", Counter)]) as system:
        ref = system.lookup("counter")
        await ref.ask(Increment())

Leaving the block shuts down gracefully: actors stop taking new work from outside
(`accepting` turns false), every actor — children before their supervisor, younger
siblings first — finishes what is already in its mailbox, then anything still running
when the timeout expires is cancelled. If the root supervisor itself crashes, the block
raises `RootSupervisorFailed` (inside a trio ExceptionGroup).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from .actor import STOP, ActorRef
from .cell import ActorCell
from .errors import ActorStopped, RootSupervisorFailed
from .supervisor import ChildSpec, StartChild, StopChild, Strategy, Supervisor

log = logging.getLogger(__name__)


class ActorSystem:
    """Root of the actor tree: registry of live cells, dead-letter count, shutdown."""

    def __init__(self, root_spec: ChildSpec, shutdown_timeout: float = 10.0) -> None:
        self.shutdown_timeout = shutdown_timeout
        self.dead_letters = 0
        self.accepting = True
        self.shutting_down = False
        self._cells: dict[str, ActorCell] = {}
        self._by_name: dict[str, list[ActorCell]] = {}
        self._nursery: trio.Nursery | None = None
        self._finished = trio.Event()
        self.root = self.new_cell(None, root_spec)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        children: Sequence[ChildSpec] = (),
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 10,
        window_s: float = 10.0,
        shutdown_timeout: float = 10.0,
    ) -> AsyncIterator[ActorSystem]:
        """Start a system whose root supervisor runs `children`; shut it down on exit."""

        def root_factory() -> Supervisor:
            return Supervisor(strategy, max_restarts, window_s, children)

        system = cls(ChildSpec("root", root_factory), shutdown_timeout)
        async with trio.open_nursery() as nursery:
            system._nursery = nursery
            nursery.start_soon(system._run_root, name="/root")
            with trio.fail_after(shutdown_timeout):
                await system.root.started.wait()
            try:
                yield system
            finally:
                with trio.CancelScope(shield=True):
                    await system.shutdown()

    async def _run_root(self) -> None:
        try:
            error = await self.root.run_once()
        finally:
            self._finished.set()
        if error is not None and not self.shutting_down:
            self.close_tree(self.root)
            raise RootSupervisorFailed(f"root supervisor crashed: {error!r}") from error

    # -- registry ----------------------------------------------------------------------

    def new_cell(self, parent: ActorCell | None, spec: ChildSpec) -> ActorCell:
        cell = ActorCell(
            self, parent, spec.name, spec.factory, spec.mailbox_size, spec.shutdown_timeout
        )
        if parent is not None:
            parent.children[spec.name] = cell
        self._cells[cell.path] = cell
        self._by_name.setdefault(spec.name, []).append(cell)
        return cell

    def close_tree(self, cell: ActorCell) -> None:
        """Close `cell` and everything below it, and forget them."""
        for child in list(cell.children.values()):
            self.close_tree(child)
        cell.close()
        if cell.parent is not None and cell.parent.children.get(cell.name) is cell:
            del cell.parent.children[cell.name]
        if self._cells.get(cell.path) is cell:
            del self._cells[cell.path]
        same = self._by_name.get(cell.name, [])
        if cell in same:
            same.remove(cell)
            if not same:
                del self._by_name[cell.name]

    def lookup(self, name: str) -> ActorRef:
        """A ref by path (`/root/a/b`) or by unique name (`b`). Raises LookupError."""
        if name.startswith("/"):
            cell = self._cells.get(name)
            if cell is None:
                raise LookupError(f"no actor at {name}")
            return cell.ref
        cells = self._by_name.get(name, [])
        if len(cells) != 1:
            raise LookupError(f"{len(cells)} actors named {name!r}")
        return cells[0].ref

    def children_refs(self, path: str) -> list[ActorRef]:
        """Refs of the live children of the actor at `path` (empty if there is none)."""
        cell = self._cells.get(path)
        return [] if cell is None else [child.ref for child in list(cell.children.values())]

    def children_states(self, path: str) -> list[dict[str, Any]]:
        """`describe()` of every live child of the actor at `path` (read without asking)."""
        cell = self._cells.get(path)
        if cell is None:
            return []
        return [child.describe_instance() for child in list(cell.children.values())]

    def cells(self) -> list[ActorCell]:
        return list(self._cells.values())

    def dead_letter(self, path: str, msg: Any) -> None:
        self.dead_letters += 1
        log.debug("dead letter to %s: %s", path, type(msg).__name__)

    # -- convenience -------------------------------------------------------------------

    async def spawn(self, spec: ChildSpec, parent: str = "/root") -> ActorRef:
        """Start a child under the supervisor at `parent` (default: the root)."""
        ref: ActorRef = await self.lookup(parent).ask(StartChild(spec))
        return ref

    async def stop(self, path: str) -> bool:
        """Stop the actor at `path` for good, through its supervisor."""
        cell = self._cells.get(path)
        if cell is None or cell.parent is None:
            return False
        stopped: bool = await cell.parent.ref.ask(
            StopChild(cell.name), timeout=cell.shutdown_timeout + 5
        )
        return stopped

    def snapshot(self) -> dict[str, Any]:
        from .inspect import snapshot

        return snapshot(self)

    def task_count(self) -> int:
        """How many trio tasks the system is still running (0 after shutdown)."""
        if self._nursery is None:
            return 0
        stack = list(self._nursery.child_tasks)
        count = 0
        while stack:
            task = stack.pop()
            count += 1
            for nursery in task.child_nurseries:
                stack.extend(nursery.child_tasks)
        return count

    # -- shutdown ----------------------------------------------------------------------

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop intake, let every actor drain its mailbox (up to `timeout`), then cancel."""
        if self._nursery is None:
            return
        self.accepting = False
        self.shutting_down = True
        with trio.move_on_after(self.shutdown_timeout if timeout is None else timeout):
            await self._drain(self.root)
            await self._finished.wait()
        self._nursery.cancel_scope.cancel()
        self.close_tree(self.root)

    async def _drain(self, cell: ActorCell) -> None:
        for child in reversed(list(cell.children.values())):
            await self._drain(child)
        if cell.closed or cell.exited.is_set():
            return
        try:
            await cell.ref.send(STOP)
        except ActorStopped:
            return
        await cell.exited.wait()
