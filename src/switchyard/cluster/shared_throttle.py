"""SharedThrottle: self-service attempt throttles exact across replicas (NATS JetStream KV).

The login, address and device-code throttles (`selfservice/throttle.py`) keep each key's
fixed window `(start, count)` in one entry of the KV bucket `<cluster>_throttles`, so
every replica counts against the same window: 5 failed logins for a name are 5 whichever
replicas they landed on. A count reads the entry, applies the one rule
(`selfservice.throttle.counted` / `wait_of`, the same functions the in-memory throttle
uses) and writes it back with compare-and-set on the entry's revision; a concurrent
writer makes the write fail and the count starts over from the newer value, so no
attempt is lost. `take` checks and counts in that one write, so concurrent attempts
never pass the limit. Concurrent counts of one key on one replica are decided together
(`key_batches.py`): one task per key takes every count waiting, applies the rule to each
in arrival order and writes the entry once, so only replicas (never a replica's own
requests) race for an entry, and a burst of attempts on one name costs one KV write per
batch.

Entry keys are `<throttle>.<hash>`: a BLAKE2b digest of the throttle name and the key,
so a login name or address (any characters) can neither break the KV key alphabet nor
collide with another throttle's key. Time is wall-clock seconds (replicas agree on it
only roughly; a window opened by a clock ahead of ours is never waited longer than the
window). Entries expire `window_s` after their last write (the bucket's TTL), by which
time their window is over anyway.

When NATS is unreachable (or the KV call fails) the replica falls back to its own
in-memory `AttemptThrottle`: it keeps serving, each replica then counting alone (up to N
times the limit across N replicas) until NATS is back; after a failed call the bucket is
opened (created if it vanished) again by the next one. The local throttle also counts
this replica's attempts while NATS is up, so a fallback starts from them rather than
from nothing. `stats` counts decisions, conflicts and fallbacks (exported as metrics).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import trio

from ..selfservice.throttle import AttemptThrottle, Window, counted, wait_of
from .errors import KeyValueConflict, TransportError
from .key_batches import BatchWaiter, KeyBatches
from .transport import Entry, KeyValue, Transport

log = logging.getLogger(__name__)

BUCKET = "throttles"
ATTEMPTS = 16  # compare-and-set attempts per batch before it gives up as contended
BUSY_RETRY_S = 1.0  # what a contended `take` answers (it refuses: never lets one through)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # a throttle's name (the KV key's prefix)

T = TypeVar("T")


@dataclass
class ThrottleStats:
    """Counters of one replica's shared throttles (exported by `metrics.py`)."""

    counted: int = 0  # attempts counted in the shared window
    refused: int = 0  # `take`s refused by the shared window
    conflicts: int = 0  # compare-and-set lost to another writer (retried)
    contended: int = 0  # gave up after ATTEMPTS conflicts in a row
    fallbacks: int = 0  # decided by the local throttle (NATS unreachable or failing)


@dataclass
class _Waiter(BatchWaiter):
    """One count waiting for its key's next batch (`check`: only if the window allows)."""

    check: bool = False
    limit: int = 1
    window_s: float = 0.0
    wait: float | None = field(default=None, init=False)  # None: counted; else the wait


def entry_key(throttle: str, key: str) -> str:
    """The KV key of `key`'s window in `throttle`: `<throttle>.<32 hex digits>`."""
    digest = hashlib.blake2b(f"{throttle}\0{key}".encode(), digest_size=16).hexdigest()
    return f"{throttle}.{digest}"


def _decode(entry: Entry | None) -> Window | None:
    """The stored window (an unreadable one counts as absent: a new window opens)."""
    if entry is None:
        return None
    try:
        state = json.loads(entry.value)
        return float(state["s"]), int(state["n"])
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable throttle entry %r; starting it afresh", entry.value[:100])
        return None


def _encode(window: Window) -> bytes:
    return json.dumps({"s": window[0], "n": window[1]}, separators=(",", ":")).encode()


class SharedThrottles:
    """The KV bucket, counters and per-key batches of one replica's shared throttles;
    `throttle()` makes each of them. Run `run()` in a nursery (counts are shared from its
    `task_status.started()` on; before, and after it stops, they are local)."""

    def __init__(
        self, transport: Transport, window_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.transport = transport
        self.window_s = window_s  # the bucket's TTL: the longest window of its throttles
        self.clock = clock  # wall-clock seconds (injected by tests)
        self.stats = ThrottleStats()
        self._kv: KeyValue | None = None
        self._batches = KeyBatches("shared throttle", self._apply)

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.transport.key_value(BUCKET, ttl_s=self.window_s)
        return self._kv

    def forget_kv(self) -> None:
        self._kv = None

    def throttle(self, name: str, local: AttemptThrottle) -> SharedThrottle:
        """The shared version of `local` (its limit and window), named `name` in the KV."""
        return SharedThrottle(self, name, local)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the per-key batches until cancelled."""
        await self._batches.run(task_status=task_status)

    async def count(self, name: str, limit: int, window_s: float, check: bool) -> float | None:
        """Join the next batch of entry `name` and wait for its answer
        (`SharedThrottle._count`)."""
        waiter = _Waiter(check=check, limit=limit, window_s=window_s)
        return (await self._batches.join(name, waiter)).wait

    async def _apply(self, name: str, batch: list[_Waiter]) -> None:
        """Answer every waiter of `batch`, in order, with one compare-and-set."""
        limit, window_s = batch[0].limit, batch[0].window_s  # one entry: one throttle
        kv = await self.kv()
        for attempt in range(ATTEMPTS):
            entry = await kv.get(name)
            window, now = _decode(entry), self.clock()
            waits: list[float | None] = []
            for waiter in batch:
                wait = wait_of(window, now, limit, window_s) if waiter.check else None
                if wait is None:
                    window = counted(window, now, window_s)
                waits.append(wait)
            if window is not None and any(w is None for w in waits):
                try:
                    if entry is None:
                        await kv.create(name, _encode(window))
                    else:
                        await kv.update(name, _encode(window), entry.revision)
                except KeyValueConflict:
                    self.stats.conflicts += 1
                    await trio.sleep(random.uniform(0, 0.002 * attempt))
                    continue
            for waiter, wait in zip(batch, waits, strict=True):
                waiter.wait = wait
            self.stats.counted += waits.count(None)
            self.stats.refused += len(waits) - waits.count(None)
            return
        self.stats.contended += len(batch)
        log.warning("shared throttle: %d conflicts in a row on %s", ATTEMPTS, name)
        for waiter in batch:
            waiter.wait = BUSY_RETRY_S


class SharedThrottle:
    """A `selfservice.throttle.Throttle` whose windows live in NATS KV (module docstring)."""

    def __init__(self, shared: SharedThrottles, name: str, local: AttemptThrottle) -> None:
        if not NAME_RE.match(name):
            raise ValueError(f"invalid throttle name {name!r}")
        if local.window_s > shared.window_s:
            raise ValueError("the bucket's TTL must be at least the throttle's window")
        self._shared = shared
        self.name = name
        self.local = local
        self.limit = local.limit
        self.window_s = local.window_s

    @property
    def stats(self) -> ThrottleStats:
        return self._shared.stats

    async def retry_after(self, key: str) -> float | None:
        async def shared() -> float | None:
            kv = await self._shared.kv()
            window = _decode(await kv.get(entry_key(self.name, key)))
            return wait_of(window, self._shared.clock(), self.limit, self.window_s)

        return await self._either(shared, lambda: self.local.retry_after(key))

    async def take(self, key: str) -> float | None:
        async def shared() -> float | None:
            wait = await self._count(key, check=True)
            if wait is None:
                self.local.hit(key)
            return wait

        return await self._either(shared, lambda: self.local.take(key))

    async def hit(self, key: str) -> None:
        async def shared() -> None:
            await self._count(key, check=False)  # contended (logged): counted locally only
            self.local.hit(key)

        await self._either(shared, lambda: self.local.hit(key))

    async def clear(self, key: str) -> None:
        self.local.clear(key)

        async def shared() -> None:
            kv = await self._shared.kv()
            await kv.delete(entry_key(self.name, key))

        await self._either(shared, lambda: None)

    async def _either(self, shared: Callable[[], Awaitable[T]], local: Callable[[], T]) -> T:
        """`shared()` while NATS is there, else (or when it fails) `local()`."""
        if self._shared.transport.connected:
            try:
                return await shared()
            except TransportError as exc:
                log.warning("shared throttle %s unavailable (%s); counting locally", self.name, exc)
                self._shared.forget_kv()  # opened (or created) again by the next call
        self._shared.stats.fallbacks += 1
        return local()

    async def _count(self, key: str, *, check: bool) -> float | None:
        """Count one attempt of `key` in its shared window; with `check`, only if the window
        allows it (else its wait, nothing counted). A batch contended ATTEMPTS times
        answers BUSY_RETRY_S, uncounted."""
        name = entry_key(self.name, key)
        return await self._shared.count(name, self.limit, self.window_s, check)
