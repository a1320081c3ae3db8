"""SharedRateLimiter: per-key rate limits exact across replicas (NATS JetStream KV).

Each API key's two buckets (requests and tokens per minute) live in one KV entry of the
bucket `<cluster>_ratelimits`, so every replica debits the same budget: N replicas admit
what one would, not N times it. An admission reads the entry, refills and applies the
single-process rule (`inference.ratelimit.take`) and writes it back with compare-and-set
on the entry's revision; a concurrent writer makes the write fail and the admission
starts over from the newer value, so no debit is ever lost. The last entry written by
this replica is remembered, so when no other replica touched the key since, an admission
is one KV round trip (the update) rather than two; a key that another replica also
writes (its remembered entry was stale once) is read first from then on (two round
trips, never a wasted write).

Time is wall-clock seconds (replicas share the store's clocks only roughly; a bucket
never refills backwards when a replica's clock is behind the last writer's). Entries
expire after `TTL_S` without use: a bucket idle that long is full again anyway.

Concurrent admissions of one key on one replica are decided together (`key_batches.py`):
one task per key takes every admission waiting, applies the rule to each in arrival order
and writes the entry once, so a hot key costs one KV write per batch, not per request, and
only replicas (never a replica's own requests) race for it.

Refunds (tokens admitted but unused) are queued, coalesced per key, and written by one
background task, so finishing a request never waits on NATS; a refund that cannot be
written is dropped (the key is limited slightly harder, never more loosely).

When NATS is unreachable (or the KV call fails) the replica falls back to its own
`RateLimiter`: it keeps serving, each replica then limiting alone (up to N times the limit
across N replicas) until NATS is back. `stats` counts admissions, conflicts and
fallbacks (exported as metrics).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import trio

from ..inference.ratelimit import Bucket, RateLimiter, Refusal, take
from ..storage.models import KeyLimits
from .errors import KeyValueConflict, TransportError
from .key_batches import BatchWaiter, KeyBatches
from .transport import Entry, KeyValue, Transport

log = logging.getLogger(__name__)

BUCKET = "ratelimits"
TTL_S = 120.0  # an entry unused this long is deleted (its buckets would be full again)
ATTEMPTS = 16  # compare-and-set attempts before an admission is refused as contended
MAX_REMEMBERED = 10_000  # last-written entries kept per replica (skip the read)
MAX_PENDING_REFUNDS = 10_000  # keys with a refund waiting; more are dropped


@dataclass
class LimiterStats:
    """Counters of the shared limiter (exported by `metrics.py` at scrape time)."""

    admitted: int = 0
    refused: int = 0
    conflicts: int = 0  # compare-and-set lost to another writer (retried)
    contended: int = 0  # refused after ATTEMPTS conflicts in a row
    fallbacks: int = 0  # admissions decided by the local limiter (NATS unreachable)
    refunds_dropped: int = 0


def _decode(entry: Entry, now: float) -> tuple[float, dict[str, list[float]]]:
    """(updated, {"rpm": [capacity, level], "tpm": [...]}) of a stored entry (an
    unreadable one counts as absent: its buckets start full)."""
    try:
        state = json.loads(entry.value)
        stored = {k: [float(state[k][0]), float(state[k][1])] for k in ("rpm", "tpm") if k in state}
        return min(float(state["t"]), now), stored
    except (ValueError, KeyError, TypeError, IndexError):
        log.warning("unreadable rate-limit entry %r; starting it afresh", entry.value[:100])
        return now, {}


def _encode(now: float, buckets: dict[str, Bucket]) -> bytes:
    state: dict[str, object] = {"t": now}
    for kind, bucket in buckets.items():
        state[kind] = [bucket.capacity, bucket.level]
    return json.dumps(state, separators=(",", ":")).encode()


def _buckets(
    stored: dict[str, list[float]], updated: float, limits: dict[str, int | None], now: float
) -> dict[str, Bucket]:
    """The key's buckets refilled to `now` (a changed limit keeps at most its new size)."""
    out: dict[str, Bucket] = {}
    for kind, limit in limits.items():
        if not limit:
            continue
        previous = stored.get(kind)
        if previous is None:
            bucket = Bucket(float(limit), float(limit), now)
        else:
            bucket = Bucket(float(limit), min(float(previous[1]), float(limit)), updated)
        bucket.refill(now)
        out[kind] = bucket
    return out


@dataclass
class _Waiter(BatchWaiter):
    """One admission waiting for its key's next batch (`key_batches.py`)."""

    tokens: int = 0
    limits: dict[str, int | None] = field(default_factory=dict)
    refusal: Refusal | None = field(default=None, init=False)


class SharedRateLimiter:
    """See the module docstring. Run `run()` in a nursery for the refunds."""

    def __init__(self, transport: Transport, local: RateLimiter) -> None:
        self._transport = transport
        self.local = local
        self.stats = LimiterStats()
        self._kv: KeyValue | None = None
        # the last entry this replica wrote per key; None: other replicas write it too
        # (a remembered entry would only cost a failed write), so read first
        self._remembered: OrderedDict[str, Entry | None] = OrderedDict()
        self._refunds: dict[str, int] = {}
        self._refund_wakeup = trio.Event()
        self._batches = KeyBatches("shared rate limit", self._admit_batch, self._settled)

    @property
    def default(self) -> KeyLimits:
        return self.local.default

    async def _bucket_kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._transport.key_value(BUCKET, ttl_s=TTL_S)
        return self._kv

    # -- admission ---------------------------------------------------------------------

    async def acquire(self, key_id: str, limits: KeyLimits, tokens: int) -> Refusal | None:
        """Debit one request and `tokens` from the key's shared buckets, or say why not."""
        rpm, tpm = self.local.effective(limits)
        if not rpm and not tpm:
            return None
        if self._transport.connected:
            try:
                refusal = await self._acquire_shared(key_id, {"rpm": rpm, "tpm": tpm}, tokens)
            except (TransportError, ValueError) as exc:  # ValueError: not a valid KV key
                log.warning("shared rate limit unavailable (%s); limiting locally", exc)
            else:
                if refusal is None:
                    self.stats.admitted += 1
                else:
                    self.stats.refused += 1
                return refusal
        self.stats.fallbacks += 1
        return await self.local.acquire(key_id, limits, tokens)

    async def _acquire_shared(
        self, key_id: str, limits: dict[str, int | None], tokens: int
    ) -> Refusal | None:
        """Join the key's next batch and wait for its decision."""
        waiter = await self._batches.join(key_id, _Waiter(tokens=tokens, limits=limits))
        return waiter.refusal

    def _settled(self, key_id: str, waiter: _Waiter) -> None:
        """A request cancelled while it waited but admitted anyway gets its tokens back."""
        if waiter.abandoned and waiter.refusal is None and waiter.error is None:
            self.refund(key_id, waiter.tokens)

    async def _admit_batch(self, key_id: str, batch: list[_Waiter]) -> None:
        """Admit or refuse every waiter of `batch`, in order, with one compare-and-set."""
        kv = await self._bucket_kv()
        entry = self._remembered.get(key_id)
        fresh = entry is None
        for attempt in range(ATTEMPTS):
            if entry is None:
                entry, fresh = await kv.get(key_id), True
            now = time.time()
            if entry is None:
                updated, stored = now, dict[str, list[float]]()
            else:
                updated, stored = _decode(entry, now)
            buckets = _buckets(stored, updated, batch[-1].limits, now)
            decisions = [take(buckets.get("rpm"), buckets.get("tpm"), w.tokens) for w in batch]
            if not fresh and any(d is not None for d in decisions):
                entry = None  # decided on a remembered entry: refunds may have come since
                continue
            if all(d is not None for d in decisions):  # nothing debited: nothing to write
                if entry is not None:
                    self._remember(key_id, entry)
                for waiter, decision in zip(batch, decisions, strict=True):
                    waiter.refusal = decision
                return
            value = _encode(now, buckets)
            try:
                if entry is None:
                    revision = await kv.create(key_id, value)
                else:
                    revision = await kv.update(key_id, value, entry.revision)
            except KeyValueConflict:
                self.stats.conflicts += 1
                self._remember(key_id, None)
                entry = None
                if attempt:
                    await trio.sleep(random.uniform(0, 0.001 * attempt))
                continue
            self._remember(key_id, Entry(value, revision))
            for waiter, decision in zip(batch, decisions, strict=True):
                waiter.refusal = decision
            return
        self.stats.contended += len(batch)
        busy = Refusal("rpm", 1.0, "Rate limit busy: too many concurrent requests for this key.")
        for waiter in batch:
            waiter.refusal = busy

    def _remember(self, key_id: str, entry: Entry | None) -> None:
        if entry is not None and key_id in self._remembered and self._remembered[key_id] is None:
            entry = None  # a key shared with other replicas stays read-first
        self._remembered[key_id] = entry
        self._remembered.move_to_end(key_id)
        while len(self._remembered) > MAX_REMEMBERED:
            self._remembered.popitem(last=False)

    # -- refunds -----------------------------------------------------------------------

    def refund(self, key_id: str, tokens: int) -> None:
        """Queue `tokens` back to the key's token bucket (never blocks)."""
        if tokens <= 0:
            return
        if not self._transport.connected:
            self.local.refund(key_id, tokens)
            return
        if key_id not in self._refunds and len(self._refunds) >= MAX_PENDING_REFUNDS:
            self.stats.refunds_dropped += 1
            return
        self._refunds[key_id] = self._refunds.get(key_id, 0) + tokens
        self._refund_wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Decide admissions (per-key batches) and write queued refunds (coalesced per
        key) until cancelled; admissions are shared from `task_status.started()` on."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._batches.run)
            task_status.started()
            await self._refund_loop()

    async def _refund_loop(self) -> None:
        while True:
            await self._refund_wakeup.wait()
            self._refund_wakeup = trio.Event()
            pending, self._refunds = self._refunds, {}
            for key_id, tokens in pending.items():
                try:
                    await self._refund_shared(key_id, tokens)
                except Exception as exc:  # a refund never takes the limiter down
                    self.stats.refunds_dropped += 1
                    log.debug("refund of %d tokens to %s dropped: %s", tokens, key_id, exc)

    async def _refund_shared(self, key_id: str, tokens: int) -> None:
        kv = await self._bucket_kv()
        entry = self._remembered.get(key_id)
        for _ in range(ATTEMPTS):
            if entry is None:
                entry = await kv.get(key_id)
            if entry is None:
                return  # expired: the bucket is full anyway
            now = time.time()
            updated, stored = _decode(entry, now)
            tpm = stored.get("tpm")
            if tpm is None:
                return
            limits: dict[str, int | None] = {k: int(v[0]) for k, v in stored.items()}
            buckets = _buckets(stored, updated, limits, now)
            bucket = buckets["tpm"]
            bucket.level = min(bucket.capacity, bucket.level + tokens)
            value = _encode(now, buckets)
            try:
                revision = await kv.update(key_id, value, entry.revision)
            except KeyValueConflict:
                self.stats.conflicts += 1
                self._remember(key_id, None)
                entry = None
                continue
            self._remember(key_id, Entry(value, revision))
            return
        self.stats.refunds_dropped += 1
