"""SharedRateLimiter against the real NATS: two replicas' limiters share one budget
exactly (20 requests of a 10 rpm key split over two replicas admit exactly 10), unused
tokens come back, and a replica without NATS limits alone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from switchyard.cluster.shared_ratelimit import BUCKET, SharedRateLimiter
from switchyard.cluster.transport import Transport
from switchyard.cluster.transport_open import open_transport
from switchyard.inference.ratelimit import RateLimiter
from switchyard.storage.models import KeyLimits
from tests.polling import wait_until

from .nats_proxy import nats_proxy


@asynccontextmanager
async def _replica(url: str, cluster: str, name: str) -> AsyncIterator[SharedRateLimiter]:
    async with open_transport(url, cluster=cluster, name=name) as transport:
        limiter = SharedRateLimiter(transport, RateLimiter(None, None))
        async with trio.open_nursery() as nursery:
            await nursery.start(limiter.run)
            yield limiter
            nursery.cancel_scope.cancel()


async def _cleanup(transport: Transport) -> None:
    await transport.delete_key_value(BUCKET)


async def test_two_replicas_admit_exactly_the_limit(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    limits = KeyLimits(rpm=10, tpm=None)
    admitted: list[str] = []
    refused: list[float] = []
    try:
        async with (
            _replica(nats_url, cluster_name, "a") as a,
            _replica(nats_url, cluster_name, "b") as b,
        ):

            async def send(limiter: SharedRateLimiter, name: str) -> None:
                refusal = await limiter.acquire("key_ten", limits, 5)
                if refusal is None:
                    admitted.append(name)
                else:
                    assert refusal.limit == "rpm"
                    refused.append(refusal.retry_after_s)

            async with trio.open_nursery() as nursery:  # 20 at once, split over A and B
                for i in range(20):
                    nursery.start_soon(send, a if i % 2 else b, "ab"[i % 2])
            assert len(admitted) == 10 and len(refused) == 10
            assert all(0 < wait <= 6.5 for wait in refused)  # one request refills in 6 s
            assert a.stats.fallbacks == b.stats.fallbacks == 0
            assert a.stats.admitted + b.stats.admitted == 10
    finally:
        await _cleanup(transport)


async def test_tokens_are_shared_and_refunded(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    limits = KeyLimits(rpm=None, tpm=1_000)
    try:
        async with (
            _replica(nats_url, cluster_name, "a") as a,
            _replica(nats_url, cluster_name, "b") as b,
        ):
            assert await a.acquire("key_tpm", limits, 600) is None
            refusal = await b.acquire("key_tpm", limits, 600)  # only ~400 left on B too
            assert refusal is not None and refusal.limit == "tpm"
            too_big = await b.acquire("key_tpm", limits, 1_001)
            assert too_big is not None and too_big.retry_after_s == 60.0
            a.refund("key_tpm", 500)  # A's request used only 100

            async def b_admits() -> bool:
                if await b.acquire("key_tpm", limits, 600) is None:
                    return True
                return False

            await wait_until(b_admits, timeout=5)
            assert await a.acquire("key_tpm", limits, 600) is not None
    finally:
        await _cleanup(transport)


async def test_changed_limit_and_unreadable_entry(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    try:
        async with _replica(nats_url, cluster_name, "a") as a:
            for _ in range(2):
                assert await a.acquire("key_x", KeyLimits(rpm=5, tpm=None), 1) is None
            # lowering the limit caps what is left (as the local limiter does): 2, not 3
            assert await a.acquire("key_x", KeyLimits(rpm=2, tpm=None), 1) is None
            assert await a.acquire("key_x", KeyLimits(rpm=2, tpm=None), 1) is None
            assert await a.acquire("key_x", KeyLimits(rpm=2, tpm=None), 1) is not None
            kv = await transport.key_value(BUCKET)
            await kv.put("key_y", b"not json")
            assert await a.acquire("key_y", KeyLimits(rpm=1, tpm=None), 1) is None
            assert await a.acquire("key_y", KeyLimits(rpm=1, tpm=None), 1) is not None
            # unlimited keys never touch NATS
            assert await a.acquire("key_z", KeyLimits(rpm=None, tpm=None), 10**9) is None
    finally:
        await _cleanup(transport)


async def test_without_nats_a_replica_limits_alone_then_shares_again(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    limits = KeyLimits(rpm=4, tpm=None)
    try:
        async with nats_proxy(nats_url) as proxy, _replica(proxy.url, cluster_name, "a") as a:
            assert await a.acquire("key_f", limits, 1) is None
            proxy.cut()
            await wait_until(lambda: not a._transport.connected, timeout=5)
            # the local limiter has its own full bucket of 4
            results = [await a.acquire("key_f", limits, 1) for _ in range(5)]
            assert [r is None for r in results] == [True] * 4 + [False]
            assert a.stats.fallbacks == 5
            proxy.restore()
            await wait_until(lambda: a._transport.connected, timeout=10)
            # shared again: 1 of 4 was used there
            shared = [await a.acquire("key_f", limits, 1) for _ in range(4)]
            assert [r is None for r in shared] == [True] * 3 + [False]
    finally:
        await _cleanup(transport)


async def test_cost_per_admission_is_reported(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    """Not a timing assertion: measures and prints (the README quotes bench numbers)."""
    limits = KeyLimits(rpm=100_000, tpm=None)
    try:
        async with _replica(nats_url, cluster_name, "a") as a:
            start = time.perf_counter()
            for _ in range(50):
                assert await a.acquire("key_cost", limits, 1) is None
            per = (time.perf_counter() - start) / 50
            print(f"shared admission: {per * 1e6:.0f} us")
            assert a.stats.admitted == 50
    finally:
        await _cleanup(transport)
