"""KeyBatches: concurrent calls on one key decided together, one drainer task per key.

The shared rate limiter and the shared throttles keep one NATS KV entry per key and
update it with compare-and-set. Concurrent requests of one key on one replica would only
race each other for that entry, so they queue instead: the first waiter of a key starts
its drainer, which takes everything waiting, hands the batch to `decide` (one read and
one write for the lot) and answers each waiter, until none waits. Only replicas, never a
replica's own requests, then race for an entry.

A `TransportError` from `decide` (or any other exception: nats-py errors the transport
does not map) becomes each waiter's `error`, raised to it, so the caller falls back to
its local rule. Drainers run in `run()`'s nursery; joining while it does not run, or a
drainer cancelled at shutdown, is a `TransportUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import trio

from .errors import TransportError, TransportUnavailable

log = logging.getLogger(__name__)


@dataclass
class BatchWaiter:
    """One call waiting for its key's next batch; subclasses carry its question and answer."""

    done: trio.Event = field(default_factory=trio.Event, init=False)
    error: Exception | None = field(default=None, init=False)
    abandoned: bool = field(default=False, init=False)  # its caller was cancelled waiting


W = TypeVar("W", bound=BatchWaiter)


class KeyBatches(Generic[W]):
    """Per-key batches (module docstring): `decide(key, batch)` answers every waiter of
    `batch` in order; `settled(key, waiter)` runs for each before it is woken."""

    def __init__(
        self,
        what: str,
        decide: Callable[[str, list[W]], Awaitable[None]],
        settled: Callable[[str, W], None] | None = None,
    ) -> None:
        self.what = what  # "shared rate limit", in log lines and errors
        self._decide = decide
        self._settled = settled
        self._queues: dict[str, list[W]] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the drainers until cancelled (joining works from `started()` on)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def join(self, key: str, waiter: W) -> W:
        """Queue `waiter` on `key` (starting its drainer if none runs), wait for its batch
        to be decided, and return it answered; raises its error instead."""
        if self._nursery is None:
            raise TransportUnavailable(f"the {self.what} is not running")
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = []
            self._nursery.start_soon(self._drain, key, queue)
        queue.append(waiter)
        try:
            await waiter.done.wait()
        except BaseException:
            waiter.abandoned = True
            raise
        if waiter.error is not None:
            raise waiter.error
        return waiter

    async def _drain(self, key: str, queue: list[W]) -> None:
        batch: list[W] = []
        try:
            while queue:
                batch = queue[:]
                queue.clear()
                try:
                    await self._decide(key, batch)
                except TransportError as exc:
                    for waiter in batch:
                        waiter.error = exc
                except Exception as exc:  # nats-py errors the transport does not map
                    log.warning("%s: unexpected %r; deciding locally", self.what, exc)
                    for waiter in batch:
                        waiter.error = TransportUnavailable(repr(exc))
                for waiter in batch:
                    if self._settled is not None:
                        self._settled(key, waiter)
                    waiter.done.set()
        finally:
            del self._queues[key]
            for waiter in batch + queue:  # only when cancelled (shutting down)
                if not waiter.done.is_set():
                    waiter.error = TransportUnavailable(f"the {self.what} stopped")
                    waiter.done.set()
