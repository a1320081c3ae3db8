"""Runtime benchmark: actor tell+handle and ask round trips vs raw trio memory channels.

Both sides do the same work in the same process and run, so the ratios (actor cost per
message ÷ raw cost per message) are what matter; absolute numbers vary by machine.
Writes bench/results/runtime.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import trio

from switchyard.runtime import Actor, ActorSystem, ChildSpec

BATCH = 1000
RESULTS = Path(__file__).parent / "results" / "runtime.json"


class Accumulator(Actor):
    """Adds every integer it is told; replies with the total when asked None."""

    def __init__(self) -> None:
        self.total = 0

    async def handle(self, msg: Any) -> Any:
        if msg is None:
            return self.total
        self.total += msg
        return self.total


async def actor_tell(n: int) -> float:
    spec = ChildSpec("acc", Accumulator, mailbox_size=BATCH + 1)
    async with ActorSystem.open([spec]) as system:
        ref = system.lookup("acc")
        start = time.perf_counter()
        for _ in range(n // BATCH):
            for i in range(BATCH):
                ref.tell(i)
            await ref.ask(None)
        return time.perf_counter() - start


async def raw_tell(n: int) -> float:
    send, receive = trio.open_memory_channel[Any](BATCH + 1)
    state = {"total": 0}

    async def consumer() -> None:
        async for msg in receive:
            if type(msg) is trio.Event:
                msg.set()
            else:
                state["total"] += msg

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        start = time.perf_counter()
        for _ in range(n // BATCH):
            for i in range(BATCH):
                send.send_nowait(i)
            done = trio.Event()
            send.send_nowait(done)
            await done.wait()
        elapsed = time.perf_counter() - start
        await send.aclose()
    return elapsed


async def actor_ask(n: int) -> float:
    async with ActorSystem.open([ChildSpec("acc", Accumulator)]) as system:
        ref = system.lookup("acc")
        start = time.perf_counter()
        for i in range(n):
            await ref.ask(i)
        return time.perf_counter() - start


async def raw_ask(n: int) -> float:
    req_send, req_recv = trio.open_memory_channel[int](1)
    rep_send, rep_recv = trio.open_memory_channel[int](1)
    state = {"total": 0}

    async def server() -> None:
        async for msg in req_recv:
            state["total"] += msg
            await rep_send.send(state["total"])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        start = time.perf_counter()
        for i in range(n):
            await req_send.send(i)
            await rep_recv.receive()
        elapsed = time.perf_counter() - start
        await req_send.aclose()
    return elapsed


async def measure(rounds: int, n_tell: int, n_ask: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {
        k: [] for k in ("actor_tell", "raw_tell", "actor_ask", "raw_ask")
    }
    for _ in range(rounds):  # interleave so machine noise hits both sides alike
        samples["raw_tell"].append(await raw_tell(n_tell) / n_tell)
        samples["actor_tell"].append(await actor_tell(n_tell) / n_tell)
        samples["raw_ask"].append(await raw_ask(n_ask) / n_ask)
        samples["actor_ask"].append(await actor_ask(n_ask) / n_ask)
    per_msg = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "params": {"rounds": rounds, "tell_messages": n_tell, "ask_round_trips": n_ask},
        "us_per_message": {k: round(v * 1e6, 3) for k, v in per_msg.items()},
        "per_second": {k: round(1 / v) for k, v in per_msg.items()},
        "ratios": {
            "tell_vs_raw": round(per_msg["actor_tell"] / per_msg["raw_tell"], 2),
            "ask_vs_raw": round(per_msg["actor_ask"] / per_msg["raw_ask"], 2),
        },
        "targets": {"tell_vs_raw": 2.0, "ask_vs_raw": 3.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tell", type=int, default=200_000)
    parser.add_argument("--ask", type=int, default=50_000)
    args = parser.parse_args()
    result = trio.run(measure, args.rounds, args.tell, args.ask)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    us, rate, ratio = result["us_per_message"], result["per_second"], result["ratios"]
    rows = [
        ("tell+handle", us["actor_tell"], rate["actor_tell"], us["raw_tell"], rate["raw_tell"],
         ratio["tell_vs_raw"], 2.0),
        ("ask round trip", us["actor_ask"], rate["actor_ask"], us["raw_ask"], rate["raw_ask"],
         ratio["ask_vs_raw"], 3.0),
    ]  # fmt: skip
    header = (
        f"{'':16}{'actor µs':>10}{'actor/s':>11}{'raw µs':>9}{'raw/s':>11}{'ratio':>7}{'target':>8}"
    )
    lines = [header]
    for name, a_us, a_rate, r_us, r_rate, r, target in rows:
        bound = f"≤{target}"
        lines.append(
            f"{name:16}{a_us:>10.2f}{a_rate:>11,}{r_us:>9.2f}{r_rate:>11,}{r:>7.2f}{bound:>8}"
        )
    print("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
