"""SharedThrottle against the real NATS: two replicas count in one window exactly
(concurrent hits are never lost, concurrent takes never pass the limit), clearing and
expiry are seen everywhere, any key is safe in a KV key, and a replica without NATS
(or whose KV call fails) counts alone, starting from its own attempts, then shares
again."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from switchyard.cluster.shared_throttle import (
    BUCKET,
    SharedThrottle,
    SharedThrottles,
    entry_key,
)
from switchyard.cluster.transport import Transport
from switchyard.cluster.transport_open import open_transport
from switchyard.cluster.transport_records import KEY_RE
from switchyard.selfservice.throttle import AttemptThrottle
from tests.polling import wait_until

from .nats_proxy import nats_proxy

WINDOW_S = 900.0


class Clock:
    """Wall-clock seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def _replica(
    url: str, cluster: str, name: str, clock: Callable[[], float] | None = None
) -> AsyncIterator[SharedThrottles]:
    async with open_transport(url, cluster=cluster, name=name) as transport:
        shared = SharedThrottles(transport, WINDOW_S, clock or time.time)
        async with trio.open_nursery() as nursery:
            await nursery.start(shared.run)
            yield shared
            nursery.cancel_scope.cancel()


@pytest.fixture(autouse=True)
async def _bucket_dropped(transport: Transport) -> AsyncIterator[None]:
    """Each test's throttles bucket is deleted after it (its cluster name is its own)."""
    yield
    await transport.delete_key_value(BUCKET)


def _throttle(shared: SharedThrottles, limit: int, name: str = "login") -> SharedThrottle:
    return shared.throttle(name, AttemptThrottle(limit, WINDOW_S, 1000))


async def _stored_count(transport: Transport, name: str, key: str) -> int:
    entry = await (await transport.key_value(BUCKET)).get(entry_key(name, key))
    assert entry is not None
    return int(json.loads(entry.value)["n"])


async def test_concurrent_hits_from_two_replicas_are_all_counted(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    async with (
        _replica(nats_url, cluster_name, "a") as a,
        _replica(nats_url, cluster_name, "b") as b,
    ):
        ta, tb = _throttle(a, 1000), _throttle(b, 1000)
        async with trio.open_nursery() as nursery:  # 40 at once, split over A and B
            for i in range(40):
                nursery.start_soon((ta if i % 2 else tb).hit, "victim")
        assert await _stored_count(transport, "login", "victim") == 40
        assert a.stats.counted + b.stats.counted == 40
        assert a.stats.fallbacks == b.stats.fallbacks == 0
        assert a.stats.contended == b.stats.contended == 0


async def test_concurrent_takes_over_two_replicas_pass_exactly_the_limit(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    async with (
        _replica(nats_url, cluster_name, "a") as a,
        _replica(nats_url, cluster_name, "b") as b,
    ):
        ta, tb = _throttle(a, 10, "address"), _throttle(b, 10, "address")
        waits: list[float | None] = []

        async def take(throttle: SharedThrottle) -> None:
            waits.append(await throttle.take("127.0.0.1"))

        async with trio.open_nursery() as nursery:
            for i in range(30):
                nursery.start_soon(take, ta if i % 2 else tb)
        assert waits.count(None) == 10
        assert all(w is not None and 0 < w <= WINDOW_S for w in waits if w is not None)
        assert await _stored_count(transport, "address", "127.0.0.1") == 10
        assert a.stats.refused + b.stats.refused == 20
        # the other throttle's key of the same string is another window
        assert await _throttle(a, 10, "login").take("127.0.0.1") is None


async def test_window_clear_and_expiry_are_seen_by_every_replica(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    clock = Clock()
    async with (
        _replica(nats_url, cluster_name, "a", clock) as a,
        _replica(nats_url, cluster_name, "b", clock) as b,
    ):
        ta, tb = _throttle(a, 3), _throttle(b, 3)
        for throttle in (ta, tb, ta):
            assert await tb.retry_after("name") is None
            await throttle.hit("name")
        assert await tb.retry_after("name") == WINDOW_S
        clock.now += 600
        assert await ta.retry_after("name") == 300
        assert await tb.take("name") == 300  # refused: nothing counted
        await tb.clear("name")  # a successful login on B
        assert await ta.retry_after("name") is None
        for _ in range(3):
            await ta.hit("name")  # cleared: a new window (a created-again key)
        assert await tb.retry_after("name") == WINDOW_S
        clock.now += WINDOW_S
        assert await tb.retry_after("name") is None  # the window is over
        assert await tb.take("name") is None  # ... and a new one opens
        assert await _stored_count(transport, "login", "name") == 1
        # a clock ahead of ours opened the window: never waited longer than a window
        clock.now -= 100
        for _ in range(2):
            await ta.hit("name")
        assert await ta.retry_after("name") == WINDOW_S
        await ta.clear("never-seen")
        assert a.stats.fallbacks == b.stats.fallbacks == 0


async def test_any_key_is_hashed_into_a_valid_kv_key_and_bad_entries_restart(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    odd = ["a.b", "*", ">", "with space", "ünïcödé", "x" * 5000, "", "..", "a/b=c", "\0"]
    assert all(KEY_RE.match(entry_key("login", k)) for k in odd)
    assert len({entry_key("login", k) for k in odd}) == len(odd)
    assert entry_key("login", "k") != entry_key("device", "k")
    async with _replica(nats_url, cluster_name, "a") as a:
        throttle = _throttle(a, 1)
        for key in odd:
            assert await throttle.take(key) is None
            assert await throttle.take(key) is not None
        assert a.stats.fallbacks == 0
        kv = await transport.key_value(BUCKET)
        await kv.put(entry_key("login", "garbled"), b"not json")
        assert await throttle.retry_after("garbled") is None
        assert await throttle.take("garbled") is None  # starts afresh
        assert await throttle.take("garbled") is not None


async def test_without_nats_a_replica_counts_alone_then_shares_again(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    async with (
        nats_proxy(nats_url) as proxy,
        _replica(proxy.url, cluster_name, "a") as a,
        _replica(nats_url, cluster_name, "b") as b,
    ):
        ta, tb = _throttle(a, 5), _throttle(b, 5)
        await tb.hit("victim")
        await ta.hit("victim")  # shared: 2, and A's local throttle saw its own 1
        proxy.cut()
        await wait_until(lambda: not a.transport.connected, timeout=10)
        # A keeps answering from its local throttle, which starts from A's own 1
        results = [await ta.take("victim") for _ in range(5)]
        assert [r is None for r in results] == [True] * 4 + [False]
        assert a.stats.fallbacks == 5
        await ta.clear("victim")  # cleared locally; the shared window is untouched
        assert await ta.retry_after("victim") is None
        assert await tb.retry_after("victim") is None  # B: still 2 of 5
        proxy.restore()
        await wait_until(lambda: a.transport.connected, timeout=15)
        # shared again: the 2 counted there before the cut, nothing of A's local ones
        waits = [await ta.take("victim") for _ in range(4)]
        assert [w is None for w in waits] == [True] * 3 + [False]
        assert await tb.retry_after("victim") is not None
        assert a.stats.fallbacks == 7


async def test_a_failing_kv_call_falls_back_then_the_bucket_is_opened_again(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    async with _replica(nats_url, cluster_name, "a") as a:
        throttle = _throttle(a, 2)
        assert await throttle.take("victim") is None
        await transport.delete_key_value(BUCKET)  # the bucket vanishes under A

        async def failed_once() -> bool:
            await throttle.hit("victim")
            return a.stats.fallbacks > 0

        await wait_until(failed_once, timeout=10)  # counted locally: A's own 2 now
        assert throttle.local.retry_after("victim") is not None
        # the next call opens (creates) the bucket again: shared, a fresh window
        assert await throttle.take("victim") is None
        assert await _stored_count(transport, "login", "victim") == 1
        assert a.stats.fallbacks == 1
