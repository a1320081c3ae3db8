"""Rate-limit benchmark: what one admission costs, local vs shared across replicas.

Three ways, each admitting `--n` requests of one key with a limit it never reaches:

- **local**: the single-process `RateLimiter` (no cluster);
- **shared, one replica**: `SharedRateLimiter` on NATS KV, every admission from the same
  replica (it remembers the entry it wrote: one compare-and-set write per admission);
- **shared, two replicas alternating**: two limiters on two NATS connections taking
  turns, so every admission finds the other's write (read + write);
- **hot key**: 200 admissions at a time over the two replicas (per-key batching: the
  wall figure is the time per admission of the whole run, i.e. 1 / throughput).

It reports wall-clock µs (latency added to a request) and this process's CPU µs per
admission. Needs a NATS server with JetStream (default nats://127.0.0.1:4222); the KV
bucket of its own cluster name is deleted afterwards. Writes bench/results/ratelimit.json.

    python bench/ratelimit.py [--n 500] [--nats-url nats://127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from pathlib import Path
from typing import Any

import trio

from switchyard.cluster.shared_ratelimit import BUCKET, SharedRateLimiter
from switchyard.cluster.transport_open import open_transport
from switchyard.inference.ratelimit import RateLimiter
from switchyard.storage.models import KeyLimits

RESULTS = Path(__file__).parent / "results" / "ratelimit.json"
LIMITS = KeyLimits(rpm=10_000_000, tpm=1_000_000_000)


async def _timed(limiters: list[Any], n: int) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        assert await limiters[i % len(limiters)].acquire("key_bench", LIMITS, 100) is None
    return {
        "wall_us": round((time.perf_counter() - wall) / n * 1e6, 1),
        "cpu_us": round((time.process_time() - cpu) / n * 1e6, 1),
    }


async def run(n: int, nats_url: str) -> dict[str, Any]:
    cluster = f"bench{secrets.token_hex(4)}"
    results = {"local": await _timed([RateLimiter(None, None)], n)}
    async with (
        open_transport(nats_url, cluster=cluster, name="bench-a") as a,
        open_transport(nats_url, cluster=cluster, name="bench-b") as b,
    ):
        one = SharedRateLimiter(a, RateLimiter(None, None))
        other = SharedRateLimiter(b, RateLimiter(None, None))
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(one.run)
                await nursery.start(other.run)
                await _timed([one], 20)  # warm up: bucket created, entry remembered
                results["shared, one replica"] = await _timed([one], n)
                results["shared, two replicas alternating"] = await _timed([one, other], n)
                results["hot key, 200 at once over two replicas"] = await _concurrent(
                    [one, other], n, 200
                )
                nursery.cancel_scope.cancel()
            results["conflicts"] = {"count": one.stats.conflicts + other.stats.conflicts}
        finally:
            await a.delete_key_value(BUCKET)
    return results


async def _concurrent(limiters: list[Any], n: int, width: int) -> dict[str, float]:
    """`n` admissions of one key, `width` at a time, spread over `limiters`."""
    wall, cpu = time.perf_counter(), time.process_time()
    refused = 0

    async def worker(i: int) -> None:
        nonlocal refused
        for j in range(i, n, width):
            if await limiters[j % len(limiters)].acquire("key_hot", LIMITS, 100) is not None:
                refused += 1

    async with trio.open_nursery() as nursery:
        for i in range(width):
            nursery.start_soon(worker, i)
    assert refused == 0
    assert all(limiter.stats.fallbacks == 0 for limiter in limiters)
    return {
        "wall_us": round((time.perf_counter() - wall) / n * 1e6, 1),
        "cpu_us": round((time.process_time() - cpu) / n * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    results = trio.run(run, args.n, args.nats_url)
    print(f"{'admission':36} {'wall µs':>9} {'CPU µs':>9}")
    for name, row in results.items():
        if "wall_us" in row:
            print(f"{name:36} {row['wall_us']:>9,.1f} {row['cpu_us']:>9,.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"n": args.n, **results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
