"""Cluster transport benchmark: what crossing to NATS costs, on the local nats-server.

In one process, two NATS connections (as two replicas would have), one run:

- publish: N messages of 100 bytes through `Transport.publish` (queued, one asyncio task
  publishes them in bulk) until the other connection has received them all; beside it
  the naive way, one `aio_as_trio` crossing per `nc.publish`, so the ratio shows what
  the bulk crossing saves;
- request: sequential `Transport.request` round trips to an echo responder (p50/p99),
  and the same with 32 concurrent askers (round trips per second);
- remote ask: `RemoteRef.ask` to a toy actor of another ActorSystem (p50/p99), beside a
  local `ActorRef.ask`.

Needs NATS at SWITCHYARD_TEST_NATS_URL (default nats://127.0.0.1:4222). Writes
bench/results/transport.json and prints a table. About 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel
import trio_asyncio

from switchyard.cluster.transport import Transport
from switchyard.cluster.transport_open import open_transport
from switchyard.runtime import Actor, ActorSystem, ChildSpec, MessageRegistry, remote_endpoint

RESULTS = Path(__file__).parent / "results" / "transport.json"
PAYLOAD = b"x" * 100


@dataclass(frozen=True)
class Bump:
    n: int


class Tally(Actor):
    """Adds what it is asked; replies with the total."""

    def __init__(self) -> None:
        self.total = 0

    async def handle(self, msg: Any) -> Any:
        self.total += msg.n
        return self.total


async def publish_bulk(a: Transport, b: Transport, n: int) -> float:
    subject = a.subject("bench", "bulk")
    async with b.subscribe(subject, buffer=n + 1) as inbox:
        start = time.perf_counter()
        for i in range(n):
            a.publish(subject, PAYLOAD)
            if i % 1000 == 999:
                await trio.lowlevel.checkpoint()  # let the drainer and receiver run
        for _ in range(n):
            await inbox.receive()
        elapsed = time.perf_counter() - start
    assert a.stats.publish_shed == 0 and b.stats.receive_shed == 0
    return elapsed


async def publish_naive(a: Transport, b: Transport, n: int) -> float:
    """One bridge crossing per message (what the transport avoids)."""
    subject = a.subject("bench", "naive")
    nc, loop = a._nc, a._loop  # the raw client, for the comparison only
    crossing = trio_asyncio.aio_as_trio(nc.publish, loop=loop)
    async with b.subscribe(subject, buffer=n + 1) as inbox:
        start = time.perf_counter()
        for _ in range(n):
            await crossing(subject, PAYLOAD)
        for _ in range(n):
            await inbox.receive()
        return time.perf_counter() - start


async def request_rtts(a: Transport, b: Transport, n: int, concurrency: int) -> dict[str, Any]:
    subject = a.subject("bench", "echo")

    async def echo(task_status: trio.TaskStatus[None]) -> None:
        async with b.subscribe(subject, buffer=4096) as requests:
            task_status.started()
            async for message in requests:
                b.reply(message, message.data)

    async with trio.open_nursery() as nursery:
        await nursery.start(echo)
        for _ in range(50):  # warm up
            await a.request(subject, PAYLOAD, timeout=5)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await a.request(subject, PAYLOAD, timeout=5)
            samples.append(time.perf_counter() - start)

        async def asker(count: int) -> None:
            for _ in range(count):
                await a.request(subject, PAYLOAD, timeout=5)

        start = time.perf_counter()
        async with trio.open_nursery() as askers:
            for _ in range(concurrency):
                askers.start_soon(asker, n // concurrency)
        concurrent_s = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return {
        "p50_us": round(_pct(samples, 50) * 1e6),
        "p99_us": round(_pct(samples, 99) * 1e6),
        "concurrent_per_s": round((n // concurrency) * concurrency / concurrent_s),
    }


async def remote_ask_rtts(a: Transport, b: Transport, n: int) -> dict[str, Any]:
    registry = MessageRegistry()
    registry.register(Bump)
    specs = [ChildSpec("tally", Tally)]
    async with (
        ActorSystem.open(specs) as system_a,
        ActorSystem.open(specs) as system_b,
        remote_endpoint(system_a, a, "a", registry) as endpoint_a,
        remote_endpoint(system_b, b, "b", registry),
    ):
        remote = endpoint_a.ref("b", "/root/tally")
        local = system_a.lookup("/root/tally")
        for _ in range(50):
            await remote.ask(Bump(1), timeout=5)
        remote_samples, local_samples = [], []
        for _ in range(n):
            start = time.perf_counter()
            await remote.ask(Bump(1), timeout=5)
            remote_samples.append(time.perf_counter() - start)
            start = time.perf_counter()
            await local.ask(Bump(1), timeout=5)
            local_samples.append(time.perf_counter() - start)
    return {
        "remote_p50_us": round(_pct(remote_samples, 50) * 1e6),
        "remote_p99_us": round(_pct(remote_samples, 99) * 1e6),
        "local_p50_us": round(_pct(local_samples, 50) * 1e6, 1),
    }


def _pct(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100)[p - 1] if len(samples) > 1 else samples[0]


async def measure(url: str, n_publish: int, n_naive: int, n_requests: int) -> dict[str, Any]:
    cluster = f"bench{secrets.token_hex(4)}"
    async with (
        open_transport(url, cluster=cluster, name="bench-a") as a,
        open_transport(url, cluster=cluster, name="bench-b") as b,
    ):
        bulk = await publish_bulk(a, b, n_publish) / n_publish
        naive = await publish_naive(a, b, n_naive) / n_naive
        requests = await request_rtts(a, b, n_requests, concurrency=32)
        asks = await remote_ask_rtts(a, b, n_requests)
    return {
        "params": {
            "publish": n_publish,
            "naive_publish": n_naive,
            "requests": n_requests,
            "payload_bytes": len(PAYLOAD),
        },
        "publish": {
            "bulk_us_per_msg": round(bulk * 1e6, 2),
            "bulk_per_s": round(1 / bulk),
            "naive_us_per_msg": round(naive * 1e6, 2),
            "naive_per_s": round(1 / naive),
            "bulk_speedup": round(naive / bulk, 1),
        },
        "request": requests,
        "remote_ask": asks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--nats-url", default=os.environ.get("SWITCHYARD_TEST_NATS_URL", "nats://127.0.0.1:4222")
    )
    parser.add_argument("--publish", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    result = trio.run(measure, args.nats_url, args.publish, args.naive, args.requests)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    pub, req, ask = result["publish"], result["request"], result["remote_ask"]
    lines = [
        f"publish, bulk crossing   {pub['bulk_us_per_msg']:>8.2f} µs/msg {pub['bulk_per_s']:>9,}/s",
        f"publish, crossing each   {pub['naive_us_per_msg']:>8.2f} µs/msg "
        f"{pub['naive_per_s']:>9,}/s  (bulk is {pub['bulk_speedup']}x)",
        f"request round trip       p50 {req['p50_us']:>6} µs  p99 {req['p99_us']:>6} µs  "
        f"32 concurrent: {req['concurrent_per_s']:,}/s",
        f"remote ask round trip    p50 {ask['remote_p50_us']:>6} µs  "
        f"p99 {ask['remote_p99_us']:>6} µs  (local ask p50 {ask['local_p50_us']} µs)",
    ]
    print("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
