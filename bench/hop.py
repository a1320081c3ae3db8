"""Hop benchmark: what a cross-replica request adds to the time to first token, in one process.

Two replicas on one trio loop (each its own ActorSystem, real SchedulerActor, own NATS
connection, `open_routing`), one provider actor that answers every dispatch at once with
one token and the end. Alternating, one request at a time:

- **local**: a `RelaySession` on r0 whose provider is on r0 (no NATS);
- **remote**: a `RelaySession` on r1, whose only provider is on r0 (the hop);
- **rtt**: a bare `Transport.request` round trip r1 → r0 (an echo), the floor under the hop.

TTFT is from `RelaySession.start` to the first batch. The difference of the medians
(remote - local) is what the hop adds; the issue's target is <= 2 ms. With `--trace`
the remote requests are also split into legs: `time.perf_counter` stamps (ms after
`RelaySession.start`, median) where the consumer's stand-in takes the dispatch, the
request is queued and handed to nats-py, the owner's nats-py parses it, the owner
starts serving it, queues the answer and the first batch, and the consumer's nats-py
parses them and its stand-in handles them. The stamps wrap methods of this process only
(a bench instrument: they add a few µs per leg).

Needs NATS at SWITCHYARD_TEST_NATS_URL (default nats://127.0.0.1:4222). Prints a table
and writes bench/results/hop-<timestamp>.json. About 10 s with the defaults.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from switchyard.actors.provider_messages import Dispatch, StreamChunk, StreamEnd
from switchyard.actors.scheduler import SchedulerActor
from switchyard.actors.scheduler_messages import (
    CapacityUpdate,
    ModelCapacity,
    ModelsQuery,
    SchedulerConfig,
)
from switchyard.cluster.routing import open_routing
from switchyard.cluster.transport import Transport
from switchyard.cluster.transport_open import open_transport
from switchyard.inference.job import new_job
from switchyard.inference.relay import RelaySession
from switchyard.protocol.vocabulary import Trust
from switchyard.runtime import Actor, ActorRef, ActorSystem, ChildSpec
from switchyard.settings import Settings

RESULTS = Path(__file__).parent / "results"


class Legs:
    """`--trace`: the first stamp of each named point per request (bench instrument)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.samples: dict[str, list[float]] = {}

    def mark(self, name: str) -> None:
        self.current.setdefault(name, time.perf_counter())

    def keep(self, start: float) -> None:
        for name, at in self.current.items():
            self.samples.setdefault(name, []).append((at - start) * 1000)
        self.current = {}

    def install(self) -> None:
        """Wrap the methods each leg passes through (in this process only)."""
        from nats.aio.client import Client

        from switchyard.cluster import remote_provider, stream_server, transport

        def kind(subject: str | bytes) -> str | None:
            name = subject.decode() if isinstance(subject, bytes) else subject
            if name.endswith(".dispatch"):
                return "dispatch"
            if ".stream." in name:
                return "batch"
            return "answer" if name.startswith("_INBOX") else None

        def wrap(cls: Any, attr: str, name: Any) -> None:
            original = getattr(cls, attr)
            if inspect.iscoroutinefunction(original):

                async def async_wrapper(self: Any, *args: Any) -> Any:
                    if point := name(*args):
                        self_marks(point)
                    return await original(self, *args)

                setattr(cls, attr, async_wrapper)
            else:

                def wrapper(self: Any, *args: Any) -> Any:
                    if point := name(*args):
                        self_marks(point)
                    return original(self, *args)

                setattr(cls, attr, wrapper)

        self_marks = self.mark
        proxy, server = remote_provider.RemoteProviderActor, stream_server.StreamServer
        wrap(proxy, "_dispatch", lambda *a: "consumer: stand-in takes the dispatch")
        wrap(transport.Transport, "_enqueue", lambda sub, *a: kind(sub) and f"queued {kind(sub)}")
        wrap(Client, "_send_publish", lambda sub, *a: kind(sub) and f"nats-py sends {kind(sub)}")
        wrap(Client, "_process_msg", lambda sid, sub, *a: kind(sub) and f"nats-py got {kind(sub)}")
        wrap(server, "_serve", lambda *a: "owner: serving starts")
        wrap(proxy, "_answered", lambda *a: "consumer: stand-in has the answer")
        wrap(proxy, "_on_batch", lambda *a: "consumer: stand-in has the first batch")


class Instant(Actor):
    """A provider actor that streams one token and the end as soon as it is dispatched."""

    def __init__(self, provider_id: str) -> None:
        self.provider_id = provider_id

    async def on_start(self) -> None:
        update = CapacityUpdate(
            self.provider_id, self.ref, Trust.SELF_SIGNED, True, {"m": ModelCapacity(64)}
        )
        self.system.lookup("/root/scheduler").tell(update)

    async def handle(self, msg: Any) -> Any:
        if isinstance(msg, Dispatch):
            msg.stream.send_nowait(StreamChunk([{"content": "hi"}], tokens=1))
            msg.stream.send_nowait(StreamEnd(finish_reason="stop", completion_tokens=1))
            msg.stream.close()
            return True
        return await super().handle(msg)


class Replica:
    """One replica's pieces, running until its block ends."""

    def __init__(self, system: ActorSystem, transport: Transport) -> None:
        self.system = system
        self.transport = transport

    @property
    def scheduler(self) -> ActorRef:
        return self.system.lookup("/root/scheduler")

    async def providers_online(self) -> int:
        models = await self.scheduler.ask(ModelsQuery())
        online: int = models.get("m", {}).get("providers_online", 0)
        return online


@asynccontextmanager
async def replica(url: str, cluster: str, name: str) -> AsyncIterator[Replica]:
    spec = ChildSpec("scheduler", lambda: SchedulerActor(SchedulerConfig(seed=1)))
    async with (
        ActorSystem.open([spec]) as system,
        open_transport(url, cluster=cluster, name=name) as transport,
        open_routing(system, transport, name),
    ):
        yield Replica(system, transport)


def job() -> Any:
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 1}
    return new_job("m", body, Settings(), Trust.SELF_SIGNED)


async def ttft_ms(on: Replica, legs: Legs | None = None, record: bool = True) -> float:
    relay = RelaySession(on.scheduler, job())
    start = time.perf_counter()
    if legs is not None:
        legs.current = {}
    await relay.start()
    await relay.next_batch()
    took = (time.perf_counter() - start) * 1000
    if legs is not None:
        legs.mark("relay: first batch")
        if record:
            legs.keep(start)
        legs.current = {}
    while relay.end is None:
        await relay.next_batch()
    await relay.close(False)
    return took


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p90": round(ordered[int(len(ordered) * 0.9)], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cluster = f"hop{secrets.token_hex(4)}"
    legs = Legs() if args.trace else None
    if legs is not None:
        legs.install()
    async with (
        replica(args.nats_url, cluster, "r0") as r0,
        replica(args.nats_url, cluster, "r1") as r1,
    ):
        await r0.system.spawn(ChildSpec("p0", lambda: Instant("p0")))
        with trio.fail_after(10):
            while True:
                if await r1.providers_online() == 1:
                    break
                await trio.sleep(0.05)
        echo_subject = r0.transport.subject("bench", "echo")
        async with r0.transport.subscribe(echo_subject) as inbox, trio.open_nursery() as nursery:

            async def echo() -> None:
                async for message in inbox:
                    r0.transport.reply(message, message.data)

            nursery.start_soon(echo)
            samples: dict[str, list[float]] = {"local": [], "remote": [], "rtt": []}
            for i in range(args.warmup + args.requests):
                local = await ttft_ms(r0)
                remote = await ttft_ms(r1, legs, record=i >= args.warmup)
                start = time.perf_counter()
                await r1.transport.request(echo_subject, b"x" * 400, timeout=5)
                rtt = (time.perf_counter() - start) * 1000
                if i >= args.warmup:
                    samples["local"].append(local)
                    samples["remote"].append(remote)
                    samples["rtt"].append(rtt)
                await trio.sleep(args.gap_ms / 1000)
            nursery.cancel_scope.cancel()
    result: dict[str, Any] = {k: summary(v) for k, v in samples.items()}
    result["added_p50_ms"] = round(result["remote"]["p50"] - result["local"]["p50"], 3)
    if legs is not None:
        medians = {k: round(statistics.median(v), 3) for k, v in legs.samples.items()}
        result["legs_ms"] = dict(sorted(medians.items(), key=lambda kv: kv[1]))
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--nats-url", default=os.environ.get("SWITCHYARD_TEST_NATS_URL", "nats://127.0.0.1:4222")
    )
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--gap-ms", type=float, default=5.0)
    p.add_argument("--label", default="")
    p.add_argument("--trace", action="store_true", help="also split the remote TTFT into legs")
    args = p.parse_args(argv)
    load_before = os.getloadavg()[0]
    measured = trio.run(run, args)
    measured["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    measured["label"] = args.label
    for name in ("local", "remote", "rtt"):
        s = measured[name]
        print(f"{name:>7}: p50 {s['p50']:.3f} ms  p90 {s['p90']:.3f} ms  mean {s['mean']:.3f} ms")
    for point, at in measured.get("legs_ms", {}).items():
        print(f"  {at:7.3f} ms  {point}")
    print(f"added by the hop (p50): {measured['added_p50_ms']:.3f} ms (target <= 2 ms)")
    print(f"load average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"hop-{stamp}.json").write_text(json.dumps(measured, indent=2) + "\n")


if __name__ == "__main__":
    main()
