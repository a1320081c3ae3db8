"""Scheduler benchmark: Reserve+Release round trips through the SchedulerActor.

Three schedulers run side by side in one process, indexing 100, 1,000 and 10,000 providers
(one model, 4 slots each, speeds spread ±25%, 20% hardware-attested, half of all slots held
by long-lived reservations so costs differ). Each round sends the same request mix to all
three — mostly `self_signed` floor, 10% `hardware`, 5% with two providers excluded — as one
sequential client and as 32 concurrent clients, each request an `ask(Reserve)` followed by
a `tell(Release)`. A trivial actor answering the same ask+tell pattern is the baseline for
what the actor runtime alone costs, and the same mix run directly on a `CapacityIndex` (no
actor, no messages) shows how the selection itself scales. The figure that matters is the
per-reservation cost at 10,000 providers divided by the cost at 100 (target: at most 2).
Writes bench/results/scheduler.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import trio

from switchyard.actors.scheduler import SchedulerActor
from switchyard.actors.scheduler_index import CapacityIndex
from switchyard.actors.scheduler_messages import (
    CapacityUpdate,
    ModelCapacity,
    Release,
    Reservation,
    Reserve,
    SchedulerConfig,
    SchedulerStats,
)
from switchyard.protocol.vocabulary import Trust
from switchyard.runtime import Actor, ActorRef, ActorSystem, ChildSpec

RESULTS = Path(__file__).parent / "results" / "scheduler.json"
SIZES = (100, 1_000, 10_000)
MODEL = "bench-model"
SLOTS = 4
CLIENTS = 32
TARGET = 2.0


class Sink(Actor):
    """Stands in for every provider actor, and answers the baseline's asks."""

    async def handle(self, msg: Any) -> Any:
        return msg


Request = tuple[int, int, str, frozenset[str]]


def request_mix(n: int, rng: random.Random) -> list[Request]:
    out: list[Request] = []
    for _ in range(n):
        floor = "hardware" if rng.random() < 0.10 else "self_signed"
        exclude: frozenset[str] = frozenset()
        if rng.random() < 0.05:
            exclude = frozenset(f"prov-{rng.randrange(100)}" for _ in range(2))
        out.append((rng.randint(100, 2000), rng.randint(64, 512), floor, exclude))
    return out


async def populate(sched: ActorRef, sink: ActorRef, size: int, rng: random.Random) -> float:
    """Register `size` providers and hold half of all slots; seconds per registration."""
    start = time.perf_counter()
    for i in range(size):
        capacity = ModelCapacity(
            SLOTS,
            prefill_tps=2000 * rng.uniform(0.75, 1.25),
            decode_tps=50 * rng.uniform(0.75, 1.25),
        )
        trust = Trust.HARDWARE if i % 5 == 0 else Trust.SELF_SIGNED
        await sched.send(CapacityUpdate(f"prov-{i}", sink, trust, True, {MODEL: capacity}))
    await sched.ask(SchedulerStats())
    per_registration = (time.perf_counter() - start) / size
    for _ in range(size * SLOTS // 2):
        held = await sched.ask(
            Reserve(MODEL, 500, 200, Trust.UNTRUSTED, deadline=trio.current_time() + 60)
        )
        assert isinstance(held, Reservation), held
    return per_registration


def build_index(sink: ActorRef, size: int, rng: random.Random) -> CapacityIndex:
    """The scheduler's index alone, populated like `populate` does through the actor."""
    index = CapacityIndex(SchedulerConfig(), rng)
    for i in range(size):
        prefill, decode = 2000 * rng.uniform(0.75, 1.25), 50 * rng.uniform(0.75, 1.25)
        capacity = ModelCapacity(SLOTS, prefill_tps=prefill, decode_tps=decode)
        trust = Trust.HARDWARE if i % 5 == 0 else Trust.SELF_SIGNED
        index.upsert(CapacityUpdate(f"prov-{i}", sink, trust, True, {MODEL: capacity}), 0.0)
    for _ in range(size * SLOTS // 2):
        slot = index.select(MODEL, 500, 200, Trust.UNTRUSTED, frozenset())
        assert slot is not None
        index.acquire(slot)
    return index


def index_only(index: CapacityIndex, requests: list[Request]) -> float:
    """select + acquire + release on the index, no actor: seconds per reservation."""
    start = time.perf_counter()
    for prompt, max_tokens, floor, exclude in requests:
        slot = index.select(MODEL, prompt, max_tokens, Trust.parse(floor), exclude)
        assert slot is not None
        index.acquire(slot)
        index.release(slot, False, 1.0)
    return (time.perf_counter() - start) / len(requests)


async def round_trips(sched: ActorRef, requests: list[Request]) -> float:
    """Sequential client: seconds per Reserve+Release."""
    start = time.perf_counter()
    for prompt, max_tokens, floor, exclude in requests:
        deadline = trio.current_time() + 30
        grant = await sched.ask(
            Reserve(MODEL, prompt, max_tokens, floor, exclude, deadline=deadline)
        )
        sched.tell(Release(grant.id, "ok", tokens=max_tokens, duration_s=1.0))
    await sched.ask(SchedulerStats())  # the last Release is handled too
    return (time.perf_counter() - start) / len(requests)


async def concurrent_round_trips(sched: ActorRef, requests: list[Request]) -> float:
    """`CLIENTS` concurrent clients sharing the requests: seconds per Reserve+Release."""

    async def client(mine: list[Request]) -> None:
        for prompt, max_tokens, floor, exclude in mine:
            deadline = trio.current_time() + 30
            msg = Reserve(MODEL, prompt, max_tokens, floor, exclude, deadline=deadline)
            grant = await sched.ask(msg)
            await trio.lowlevel.checkpoint()  # "serve" the request: let others in
            sched.tell(Release(grant.id, "ok", tokens=max_tokens, duration_s=1.0))

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for k in range(CLIENTS):
            nursery.start_soon(client, requests[k::CLIENTS])
    await sched.ask(SchedulerStats())
    return (time.perf_counter() - start) / len(requests)


async def baseline(sink: ActorRef, n: int) -> float:
    """The same ask+tell pattern against an actor that does nothing."""
    start = time.perf_counter()
    for i in range(n):
        await sink.ask(i)
        sink.tell(i)
    await sink.ask(None)
    return (time.perf_counter() - start) / n


async def measure(rounds: int, n: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    specs = [ChildSpec(f"sched-{size}", SchedulerActor, mailbox_size=100_000) for size in SIZES]
    specs.append(ChildSpec("sink", Sink, mailbox_size=100_000))
    async with ActorSystem.open(specs) as system:
        sink = system.lookup("sink")
        scheds = {size: system.lookup(f"sched-{size}") for size in SIZES}
        register = {size: await populate(scheds[size], sink, size, rng) for size in SIZES}
        indexes = {size: build_index(sink, size, rng) for size in SIZES}
        samples: dict[str, list[float]] = {"baseline": []}
        for size in SIZES:
            samples[f"seq-{size}"] = []
            samples[f"conc-{size}"] = []
            samples[f"index-{size}"] = []
        for _ in range(rounds):  # interleave so machine noise hits every size alike
            requests = request_mix(n, rng)
            samples["baseline"].append(await baseline(sink, n))
            for size in SIZES:
                samples[f"seq-{size}"].append(await round_trips(scheds[size], requests))
                samples[f"conc-{size}"].append(await concurrent_round_trips(scheds[size], requests))
                samples[f"index-{size}"].append(index_only(indexes[size], requests))
        stats = {size: await scheds[size].ask(SchedulerStats()) for size in SIZES}
    med = {k: statistics.median(v) for k, v in samples.items()}
    small, large = SIZES[0], SIZES[-1]
    return {
        "params": {
            "rounds": rounds,
            "round_trips_per_size": n,
            "concurrent_clients": CLIENTS,
            "slots_per_provider": SLOTS,
            "held_fraction": 0.5,
            "seed": seed,
        },
        "sizes": {
            str(size): {
                "us_per_reservation": round(med[f"seq-{size}"] * 1e6, 2),
                "reservations_per_s": round(1 / med[f"seq-{size}"]),
                "concurrent_us_per_reservation": round(med[f"conc-{size}"] * 1e6, 2),
                "concurrent_reservations_per_s": round(1 / med[f"conc-{size}"]),
                "index_only_us_per_reservation": round(med[f"index-{size}"] * 1e6, 2),
                "register_us_per_provider": round(register[size] * 1e6, 2),
                "reserved_after": stats[size]["reserved_total"],
            }
            for size in SIZES
        },
        "baseline_us_per_ask_tell": round(med["baseline"] * 1e6, 2),
        "ratios": {
            "sequential_10k_vs_100": round(med[f"seq-{large}"] / med[f"seq-{small}"], 2),
            "concurrent_10k_vs_100": round(med[f"conc-{large}"] / med[f"conc-{small}"], 2),
            "index_only_10k_vs_100": round(med[f"index-{large}"] / med[f"index-{small}"], 2),
        },
        "target": TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=5000, help="round trips per size per round")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = trio.run(measure, args.rounds, args.n, args.seed)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    conc = f"{CLIENTS} clients"
    header = (
        f"{'providers':>10}{'µs/res':>9}{'res/s':>9}"
        f"{conc + ' µs/res':>20}{'res/s':>9}{'index µs':>10}{'register µs':>13}"
    )
    lines = [header]
    for size, row in result["sizes"].items():
        lines.append(
            f"{int(size):>10,}{row['us_per_reservation']:>9.2f}{row['reservations_per_s']:>9,}"
            f"{row['concurrent_us_per_reservation']:>20.2f}"
            f"{row['concurrent_reservations_per_s']:>9,}"
            f"{row['index_only_us_per_reservation']:>10.2f}{row['register_us_per_provider']:>13.2f}"
        )
    ratios = result["ratios"]
    lines.append(f"baseline ask+tell on a no-op actor: {result['baseline_us_per_ask_tell']:.2f} µs")
    lines.append(
        f"cost per reservation, 10,000 vs 100 providers: sequential "
        f"{ratios['sequential_10k_vs_100']:.2f}, {conc} {ratios['concurrent_10k_vs_100']:.2f}, "
        f"index alone {ratios['index_only_10k_vs_100']:.2f} (target ≤{TARGET})"
    )
    print("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
