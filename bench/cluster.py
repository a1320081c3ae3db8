"""Cluster benchmark: one replica against two on this machine, and the cost of the hop.

Every replica is a real `switchyard serve` in cluster mode (one NATS, one fresh Postgres
schema, dropped at the end); providers are `switchyard provider --backend simulated`
processes; the load is bench/load_client.py's raw-socket streaming clients.

1. **one**: 1 replica, K providers on it, C streaming clients on it.
2. **two**: 2 replicas, the K providers split between them, the same C clients split
   between them (each request may be served on either replica's providers, so about half
   cross NATS). Both report relayed tokens/s and the replicas' CPU per token.
3. **hop**: the two replicas with one provider, on r0: a few clients on r0 (same
   replica) then on r1 (every request crosses to r0 and its stream comes back over
   NATS); the difference of their TTFT p50 is what the hop adds (target: <= 2 ms).

    python bench/cluster.py                       # defaults: C=40, K=2
    python bench/cluster.py --concurrency 80 --measure 15

Writes bench/results/cluster-<timestamp>.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from load import drop_schema, git_commit
from load_client import Target, run_load
from load_procs import MODEL, Child, Fleet, SimTiming, coordinator_argv, provider_argv, provision

RESULTS = Path(__file__).parent / "results"


class Cluster:
    """The replicas and providers of one scenario (all stopped by `stop`)."""

    def __init__(self, fleet: Fleet, args: argparse.Namespace, replicas: int) -> None:
        self.fleet = fleet
        self.args = args
        self.count = replicas
        self.admin_key = secrets.token_urlsafe(24)
        self.name = f"bench{secrets.token_hex(4)}"
        self.replicas: list[Child] = []
        self.urls: list[str] = []
        self.providers: list[Child] = []
        self.api_key = ""
        self.token = ""

    async def start(self) -> None:
        for i in range(self.count):
            env = {
                "SWITCHYARD_ADMIN_KEY": self.admin_key,
                "SWITCHYARD_DATABASE_URL": self.args.database_url,
                "SWITCHYARD_DATABASE_SCHEMA": self.args.schema,
                "SWITCHYARD_NATS_URL": self.args.nats_url,
                "SWITCHYARD_CLUSTER_NAME": self.name,
                "SWITCHYARD_REPLICA_ID": f"r{i}",
            }
            child = self.fleet.start(f"{self.name}-r{i}", coordinator_argv(), env)
            self.replicas.append(child)
            self.urls.append(await child.wait_for_url(60))
        accounts = await provision(self.urls[0], self.admin_key)
        self.api_key, self.token = accounts.api_key, accounts.provider_token

    async def add_providers(self, on: list[int], timing: SimTiming) -> None:
        """One provider on replica `i` for each `i` of `on`; waits until every replica
        indexes all of them."""
        for i in on:
            n = len(self.providers)
            argv = provider_argv(
                self.urls[i], self.token, self.fleet.workdir / f"{self.name}-key-{n}", timing,
                self.args.slots, self.args.batch_window_ms,
            )  # fmt: skip
            self.providers.append(self.fleet.start(f"{self.name}-p{n}", argv))
        for url in self.urls:
            await self.wait_indexed(url, len(self.providers))

    async def remove_provider(self, index: int) -> None:
        await self.fleet.stop([self.providers.pop(index)])
        for url in self.urls:
            await self.wait_indexed(url, len(self.providers))

    async def wait_indexed(self, url: str, count: int, timeout_s: float = 60) -> None:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
            with trio.move_on_after(timeout_s):
                while True:
                    tree = (await http.get("/admin/supervisor")).json()["tree"]
                    scheduler = next(c for c in tree["children"] if c["path"] == "/root/scheduler")
                    if scheduler["state"]["providers_indexed"] == count:
                        return
                    await trio.sleep(0.1)
        raise RuntimeError(f"{url} did not index {count} providers in {timeout_s}s")

    def targets(self, replicas: list[int]) -> list[Target]:
        return [
            Target("127.0.0.1", int(self.urls[i].rsplit(":", 1)[1]), self.api_key) for i in replicas
        ]

    async def stop(self) -> None:
        await self.fleet.stop(self.providers + self.replicas)


async def measure(
    cluster: Cluster, targets: list[Target], concurrency: int, timing: SimTiming, seconds: float
) -> dict[str, Any]:
    """One load: tokens/s, TTFT, and the replicas' CPU over the measured window."""
    args = cluster.args
    ramp = max(args.ramp, timing.duration_s)
    cpu: dict[str, float] = {}

    async def sampler() -> None:
        await trio.sleep(ramp)
        cpu["start"] = sum(r.cpu_s() for r in cluster.replicas)
        await trio.sleep(seconds)
        cpu["end"] = sum(r.cpu_s() for r in cluster.replicas)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sampler)
        stats = await run_load(
            targets, concurrency=concurrency, model=MODEL, output_tokens=timing.output_tokens,
            ramp_s=ramp, measure_s=seconds, drain_s=timing.duration_s * 3 + 10,
        )  # fmt: skip
    load = stats.summary()
    span = stats.window_end - stats.window_start
    used = cpu["end"] - cpu["start"]
    tokens = load["tokens_per_s"] * span
    return {
        "concurrency": concurrency,
        "tokens_per_s": load["tokens_per_s"],
        "requests_per_s": load["requests_per_s"],
        "ttft_ms": load["ttft_ms"],
        "errors": load["errors"],
        "replica_cpu_cores": round(used / span, 3),
        "replica_cpu_us_per_token": round(used / tokens * 1e6, 1) if tokens else None,
    }


async def scenario(
    fleet: Fleet, args: argparse.Namespace, replicas: int, providers_on: list[int]
) -> dict[str, Any]:
    timing = SimTiming(args.ttft, args.tokens_per_s, args.output_tokens)
    cluster = Cluster(fleet, args, replicas)
    try:
        await cluster.start()
        await cluster.add_providers(providers_on, timing)
        result = await measure(
            cluster, cluster.targets(list(range(replicas))), args.concurrency, timing,
            args.measure,
        )  # fmt: skip
        result.update(replicas=replicas, providers_on=providers_on)
        return result
    finally:
        with trio.CancelScope(shield=True):
            await cluster.stop()


async def hop(fleet: Fleet, args: argparse.Namespace) -> dict[str, Any]:
    """TTFT through the same replica vs across to the other one (one provider, on r0)."""
    timing = SimTiming(0.0, args.tokens_per_s, args.output_tokens)
    cluster = Cluster(fleet, args, 2)
    try:
        await cluster.start()
        await cluster.add_providers([0], timing)
        runs: dict[str, list[dict[str, Any]]] = {"same": [], "cross": []}
        for _ in range(args.hop_rounds):  # alternate, so drift hits both alike
            for path, replica in (("same", 0), ("cross", 1)):
                targets = cluster.targets([replica])
                point = await measure(
                    cluster, targets, args.hop_concurrency, timing, args.hop_measure
                )
                runs[path].append(point)
        same = sorted(r["ttft_ms"]["p50"] for r in runs["same"])
        cross = sorted(r["ttft_ms"]["p50"] for r in runs["cross"])
        added = cross[len(cross) // 2] - same[len(same) // 2]
        return {"runs": runs, "added_ttft_p50_ms": round(added, 3), "target_ms": 2.0}
    finally:
        with trio.CancelScope(shield=True):
            await cluster.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    fleet = Fleet(Path(tempfile.mkdtemp(prefix="switchyard-cluster-")))
    result: dict[str, Any] = {}
    try:
        if "one" in args.scenarios:
            result["one"] = await scenario(fleet, args, 1, [0] * args.providers)
            print("  measured one replica", flush=True)
        if "two" in args.scenarios:
            split = [i % 2 for i in range(args.providers)]
            result["two"] = await scenario(fleet, args, 2, split)
            print("  measured two replicas", flush=True)
        if "hop" in args.scenarios:
            result["hop"] = await hop(fleet, args)
            print("  measured the hop", flush=True)
        return result
    finally:
        fleet.kill_all()
        drop_schema(args.database_url, args.schema)
        shutil.rmtree(fleet.workdir, ignore_errors=True)


def table(result: dict[str, Any]) -> str:
    rows = ["scenario        tokens/s   TTFT p50 ms   TTFT p99 ms   replica CPU us/token  errors"]
    for name in ("one", "two"):
        if name not in result:
            continue
        r = result[name]
        rows.append(
            f"{r['replicas']} replica(s)    {r['tokens_per_s']:>9.0f}   "
            f"{r['ttft_ms']['p50']:>11.2f}   {r['ttft_ms']['p99']:>11.2f}   "
            f"{r['replica_cpu_us_per_token'] or 0:>20.1f}  {r['errors']}"
        )
    h = result.get("hop")
    if h is None:
        return "\n".join(rows)
    rows.append(
        f"hop: TTFT p50 same replica {[r['ttft_ms']['p50'] for r in h['runs']['same']]} ms, "
        f"cross {[r['ttft_ms']['p50'] for r in h['runs']['cross']]} ms -> added "
        f"{h['added_ttft_p50_ms']:.2f} ms (target <= {h['target_ms']:g} ms)"
    )
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    p.add_argument("--providers", type=int, default=2)
    p.add_argument("--slots", type=int, default=64)
    p.add_argument("--concurrency", type=int, default=40)
    p.add_argument("--ttft", type=float, default=0.0)
    p.add_argument("--tokens-per-s", type=float, default=100.0)
    p.add_argument("--output-tokens", type=int, default=50)
    p.add_argument("--batch-window-ms", type=float, default=5.0)
    p.add_argument("--ramp", type=float, default=1.0)
    p.add_argument("--measure", type=float, default=8.0)
    p.add_argument("--hop-concurrency", type=int, default=2)
    p.add_argument("--hop-measure", type=float, default=6.0)
    p.add_argument("--hop-rounds", type=int, default=3)
    p.add_argument("--scenarios", default="one,two,hop", help="which of one,two,hop to run")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    args.schema = f"bench_cluster_{secrets.token_hex(4)}"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.time()
    load_before = os.getloadavg()[0]
    measured = trio.run(run, args)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"cluster-{stamp}.json"
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result = {
        "commit": git_commit(),
        "started": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "params": params,
        **measured,
    }
    print(table(measured))
    print(f"load average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
