"""The scheduler's wait queues: per-model FIFOs of deferred Reserves and one deadline heap.

Waiters are removed lazily: granting, expiring or finding a waiter abandoned marks it
`done`; the FIFO drops done waiters from its head and is rebuilt when they pile up inside,
and the deadline heap drops them when they surface (or rebuilds when mostly stale). Only
`live` waiters count against the per-model bound.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterator

from switchyard.runtime import Reply

from ..protocol.vocabulary import Trust
from .scheduler_messages import Reserve
from .scheduler_slots import TRUST_LEVELS


class Waiter:
    """One deferred Reserve."""

    __slots__ = ("deadline", "done", "floor", "msg", "reply")

    def __init__(self, msg: Reserve, floor: Trust, reply: Reply) -> None:
        self.msg = msg
        self.floor = floor
        self.reply = reply
        self.deadline = msg.deadline
        self.done = False


class ModelQueue:
    """FIFO of one model's waiters, with live counts per trust floor."""

    __slots__ = ("floors", "items", "live")

    def __init__(self) -> None:
        self.items: deque[Waiter] = deque()
        self.live = 0
        self.floors = [0] * TRUST_LEVELS

    def push(self, waiter: Waiter) -> None:
        self.items.append(waiter)
        self.live += 1
        self.floors[waiter.floor.rank] += 1

    def mark_done(self, waiter: Waiter) -> None:
        if not waiter.done:
            waiter.done = True
            self.live -= 1
            self.floors[waiter.floor.rank] -= 1

    def min_floor(self) -> Trust | None:
        """The laxest trust floor among live waiters (None when nobody waits)."""
        for level, count in enumerate(self.floors):
            if count:
                return Trust.by_rank(level)
        return None

    def purge_abandoned(self) -> int:
        """Mark waiters whose asker gave up as done; how many there were."""
        purged = 0
        for waiter in self.items:
            if not waiter.done and waiter.reply.abandoned:
                self.mark_done(waiter)
                purged += 1
        self.compact()
        return purged

    def compact(self) -> None:
        items = self.items
        while items and items[0].done:
            items.popleft()
        if len(items) > 2 * self.live + 16:
            self.items = deque(w for w in items if not w.done)

    def __iter__(self) -> Iterator[Waiter]:
        return iter(self.items)


class WaitQueues:
    """All models' FIFOs plus the heap of deadlines that drives the single timer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queues: dict[str, ModelQueue] = {}
        self.total = 0
        self._deadlines: list[tuple[float, int, Waiter]] = []
        self._seq = itertools.count()

    def add(self, waiter: Waiter) -> tuple[bool, int]:
        """Enqueue; (False, purged) when the model's queue is full even after purging."""
        model = waiter.msg.model
        queue = self.queues.get(model)
        if queue is None:
            queue = self.queues[model] = ModelQueue()
        purged = 0
        if queue.live >= self.limit:
            purged = queue.purge_abandoned()
            self.total -= purged
            if queue.live >= self.limit:
                return False, purged
        queue.push(waiter)
        self.total += 1
        heapq.heappush(self._deadlines, (waiter.deadline, next(self._seq), waiter))
        if len(self._deadlines) > 2 * self.total + 64:
            self._deadlines = [entry for entry in self._deadlines if not entry[2].done]
            heapq.heapify(self._deadlines)
        return True, purged

    def get(self, model: str) -> ModelQueue | None:
        queue = self.queues.get(model)
        return queue if queue is not None and queue.live else None

    def finish(self, queue: ModelQueue, waiter: Waiter) -> None:
        """Take a live waiter out (granted or abandoned)."""
        if not waiter.done:
            queue.mark_done(waiter)
            self.total -= 1

    def expired(self, now: float) -> list[Waiter]:
        """Take out and return every live waiter whose deadline is at or before `now`."""
        heap = self._deadlines
        out: list[Waiter] = []
        touched: set[str] = set()
        while heap and heap[0][0] <= now:
            waiter = heapq.heappop(heap)[2]
            if waiter.done:
                continue
            queue = self.queues[waiter.msg.model]
            self.finish(queue, waiter)
            touched.add(waiter.msg.model)
            out.append(waiter)
        for model in touched:
            self.queues[model].compact()
        return out

    def next_deadline(self) -> float | None:
        heap = self._deadlines
        while heap and heap[0][2].done:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def by_model(self) -> dict[str, int]:
        return {model: q.live for model, q in self.queues.items() if q.live}

    def drain_all(self) -> list[Waiter]:
        """Take out every live waiter (the scheduler is stopping)."""
        out = [w for q in self.queues.values() for w in q if not w.done]
        for waiter in out:
            waiter.done = True
        self.queues.clear()
        self._deadlines.clear()
        self.total = 0
        return out


__all__ = ["ModelQueue", "WaitQueues", "Waiter"]
