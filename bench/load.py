"""Load benchmark: the coordinator's added latency and its ceiling, beside a direct baseline.

One run starts `switchyard serve` (in-memory store, ephemeral port, admin key from the
environment), provisions an account, an unthrottled API key and a provider token through
the admin API, and starts K `switchyard provider --backend simulated` processes and K
`python -m switchyard.agent.sim_server` processes with the same token timing. For every
concurrency C it runs the same load twice — straight to the sim servers (**direct**) and
through the coordinator to the providers (**through**) — and reports requests/s, tokens/s,
TTFT p50/p90/p99 and inter-token p99 for both, their differences, the CPU each side used,
the coordinator's CPU seconds per 1,000 requests and its peak RSS. A ceiling scenario
(faster streams, restarting the simulated fleet) measures the most tokens/s relayed.
Everything is loopback-only and bounded; it prints a table and writes
bench/results/load-<timestamp>.json (plus a PNG of added TTFT vs concurrency).

    python bench/load.py                          # sweep 10,100,200,500,1000 + ceiling
    python bench/load.py --sweep 10,100,500,1000  # another sweep
    python bench/load.py --concurrency 200 --no-ceiling
    python bench/load.py --soak 180               # RSS flat (±10%) over 3 minutes?
    python bench/load.py --soak 180 --database-url postgresql://postgres@127.0.0.1/test
    python bench/load.py --concurrency 100 --profile /tmp/prof   # py-spy collapsed stacks
    python bench/load.py --replicas 2 --providers 8 --database-url postgresql://...  # 2 procs
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from load_client import Target, run_load
from load_procs import (
    BIN,
    MODEL,
    Child,
    Fleet,
    SimTiming,
    coordinator_argv,
    provider_argv,
    provision,
    sim_server_argv,
    wait_providers,
)
from load_report import check_targets, compare, plot, table, targets_table

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent


class Bench:
    """The coordinator, the simulated fleet of the current timing, and measured runs."""

    def __init__(self, fleet: Fleet, args: argparse.Namespace) -> None:
        self.fleet = fleet
        self.args = args
        self.admin_key = secrets.token_urlsafe(24)
        self.coordinator: Child | None = None
        self.url = ""
        self.api_key = ""
        self.provider_token = ""
        self.providers: list[Child] = []
        self.servers: list[Child] = []
        self.server_targets: list[Target] = []
        self.timing: SimTiming | None = None

    async def start_coordinator(self) -> None:
        env = {"SWITCHYARD_ADMIN_KEY": self.admin_key, "SWITCHYARD_DATABASE_URL": ""}
        if self.args.database_url:  # a fresh schema, dropped when the run ends
            env["SWITCHYARD_DATABASE_URL"] = self.args.database_url
            env["SWITCHYARD_DATABASE_SCHEMA"] = self.args.schema
        if self.args.replicas > 1:  # one cluster of N processes on one port
            env["SWITCHYARD_NATS_URL"] = self.args.nats_url
            env["SWITCHYARD_CLUSTER_NAME"] = self.args.schema
        argv = coordinator_argv(self.args.replicas)
        self.coordinator = self.fleet.start("coordinator", argv, env)
        self.url = await self.coordinator.wait_for_url()
        accounts = await provision(self.url, self.admin_key)
        self.api_key, self.provider_token = accounts.api_key, accounts.provider_token

    async def use_timing(self, timing: SimTiming, servers: bool = True) -> None:
        """(Re)start K providers (and, for the direct path, K sim servers) with `timing`."""
        if timing == self.timing:
            return
        await self.fleet.stop(self.providers + self.servers)
        k, slots = self.args.providers, self.args.slots
        tag = secrets.token_hex(2)  # a fresh fleet gets fresh names and provider keys
        self.providers = [
            self.fleet.start(
                f"provider-{tag}-{i}",
                provider_argv(
                    self.url, self.provider_token, self.fleet.workdir / f"key-{tag}-{i}", timing,
                    slots, self.args.batch_window_ms,
                ),
            )
            for i in range(k)
        ]  # fmt: skip
        self.servers = [
            self.fleet.start(f"sim-server-{tag}-{i}", sim_server_argv(timing))
            for i in range(k if servers else 0)
        ]
        urls = [await s.wait_for_url() for s in self.servers]
        self.server_targets = [
            Target("127.0.0.1", int(u.rsplit(":", 1)[1].split("/")[0])) for u in urls
        ]
        await wait_providers(self.url, self.admin_key, k, timeout_s=60)
        self.timing = timing

    def start_profiler(self, concurrency: int, seconds: float) -> None:
        """py-spy samples the coordinator and one provider for `seconds` (into --profile)."""
        assert self.coordinator is not None
        self.args.profile.mkdir(parents=True, exist_ok=True)
        for child in (self.coordinator, self.providers[0]):
            name = child.name.split("-")[0]
            out = self.args.profile / f"{name}-{concurrency}.txt"
            argv = [
                str(BIN / "py-spy"), "record", "--rate", "200", "--format", "raw",
                "--pid", str(child.pid), "--duration", str(max(1, int(seconds))),
                "--output", str(out),
            ]  # fmt: skip
            self.fleet.start(f"py-spy-{name}-{concurrency}", argv)
            print(f"  profiling {child.name} into {out}", flush=True)

    def coordinator_target(self) -> list[Target]:
        port = int(self.url.rsplit(":", 1)[1])
        return [Target("127.0.0.1", port, self.api_key)]

    async def run_path(self, path: str, concurrency: int) -> dict[str, Any]:
        """One measured load on `path` ("direct" or "through") at `concurrency` streams."""
        assert self.timing is not None and self.coordinator is not None
        timing = self.timing
        through = path == "through"
        targets = self.coordinator_target() if through else self.server_targets
        groups = {
            "server": [self.coordinator] if through else self.servers,
            "providers": self.providers if through else [],
        }
        ramp = max(self.args.min_ramp, timing.duration_s)
        measure = self.args.measure
        samples: dict[str, dict[str, float]] = {}

        profile = through and self.args.profile and concurrency == max(self.args.sweep)

        async def sampler() -> None:
            await trio.sleep(ramp)
            samples["start"] = _cpu(groups)
            if profile:
                self.start_profiler(concurrency, measure)
            await trio.sleep(measure)
            samples["end"] = _cpu(groups)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sampler)
            stats = await run_load(
                targets, concurrency=concurrency, model=MODEL, output_tokens=timing.output_tokens,
                ramp_s=ramp, measure_s=measure, drain_s=timing.duration_s * 3 + 10,
            )  # fmt: skip
        load = stats.summary()
        span = stats.window_end - stats.window_start
        cpu = {k: (samples["end"][k] - samples["start"][k]) / span for k in samples["end"]}
        result: dict[str, Any] = {
            "load": load,
            "cpu_cores": {k: round(v, 3) for k, v in cpu.items()},
        }
        if through:
            coord_cpu = samples["end"]["server"] - samples["start"]["server"]
            completed = load["requests_per_s"] * span
            per_1000 = coord_cpu / completed * 1000 if completed else None
            memory = self.coordinator.memory_kb()
            tokens = load["tokens_per_s"] * span
            result["coordinator_cpu_s_per_1000_requests"] = (
                None if per_1000 is None else round(per_1000, 3)
            )
            result["coordinator_cpu_us_per_token"] = (
                round(coord_cpu / tokens * 1e6, 1) if tokens else None
            )
            result["coordinator_peak_rss_mb"] = round(memory["VmHWM"] / 1024, 1)
            result["coordinator_rss_mb"] = round(memory["VmRSS"] / 1024, 1)
        await trio.sleep(self.args.settle)
        return result

    async def point(self, concurrency: int) -> dict[str, Any]:
        direct = await self.run_path("direct", concurrency)
        through = await self.run_path("through", concurrency)
        return {
            "concurrency": concurrency,
            "timing": vars(self.timing),
            "direct": direct,
            "through": through,
            "added": compare(direct, through),
        }

    async def soak(self, seconds: float, concurrency: int) -> dict[str, Any]:
        """Constant load through the coordinator; RSS sampled after a warm-up at full load."""
        assert self.timing is not None and self.coordinator is not None
        coordinator, warmup, interval = self.coordinator, self.args.soak_warmup, 5.0
        ramp = min(10.0, warmup / 2)  # clients all start early: the warm-up ends at full load
        samples: list[tuple[float, float]] = []

        async def sampler() -> None:
            await trio.sleep(warmup)
            start = trio.current_time()
            while trio.current_time() - start <= seconds:
                rss = coordinator.memory_kb()["VmRSS"] / 1024
                samples.append((round(trio.current_time() - start, 1), round(rss, 1)))
                await trio.sleep(interval)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sampler)
            stats = await run_load(
                self.coordinator_target(), concurrency=concurrency, model=MODEL,
                output_tokens=self.timing.output_tokens, ramp_s=ramp,
                measure_s=seconds + warmup - ramp,
                drain_s=self.timing.duration_s * 3 + 10,
            )  # fmt: skip
        load = stats.summary()
        values = [rss for _, rss in samples]
        base = values[0] if values else 0.0
        requests = load["requests_per_s"] * seconds
        growth = (values[-1] - base) * 1024 / (requests / 1000) if values and requests else None
        return {
            "seconds": seconds,
            "concurrency": concurrency,
            "warmup_s": warmup,
            "store": "postgres" if self.args.database_url else "memory",
            "rss_mb": samples,
            "rss_first_mb": base,
            "rss_last_mb": values[-1] if values else None,
            "rss_min_mb": min(values, default=None),
            "rss_max_mb": max(values, default=None),
            "max_deviation_from_first": (
                round(max(abs(v - base) for v in values) / base, 4) if base else None
            ),
            "rss_growth_kb_per_1000_requests": None if growth is None else round(growth, 1),
            "flat_within_10_percent": bool(base)
            and all(abs(v - base) <= 0.10 * base for v in values),
            "load": load,
        }


def _cpu(groups: dict[str, list[Child]]) -> dict[str, float]:
    out = {name: sum(c.cpu_s() for c in children) for name, children in groups.items()}
    me = os.times()
    out["client"] = me.user + me.system
    return out


def drop_schema(database_url: str, schema: str) -> None:
    """Remove the run's Postgres schema (psql; a leftover schema is only reported)."""
    sql = f"DROP SCHEMA IF EXISTS {schema} CASCADE"
    try:
        subprocess.run(["psql", database_url, "-qc", sql], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not drop schema {schema} ({exc}); drop it by hand")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty else "")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-load-"))
    fleet = Fleet(workdir)
    bench = Bench(fleet, args)
    result: dict[str, Any] = {}
    try:
        await bench.start_coordinator()
        timing = SimTiming(args.ttft, args.tokens_per_s, args.output_tokens)
        await bench.use_timing(timing, servers=not args.soak)
        if args.soak:
            result["soak"] = await bench.soak(args.soak, args.soak_concurrency)
            return result
        points = []
        for concurrency in args.sweep:
            point = await bench.point(concurrency)
            points.append(point)
            print(f"  measured {concurrency} streams", flush=True)
        result["points"] = points
        if args.ceiling:
            fast = SimTiming(args.ttft, args.ceiling_tokens_per_s, args.ceiling_output_tokens)
            await bench.use_timing(fast)
            result["ceiling"] = await bench.point(args.ceiling_concurrency)
            print(f"  measured the ceiling ({args.ceiling_concurrency} fast streams)", flush=True)
        return result
    finally:
        with trio.CancelScope(shield=True):
            await fleet.stop(list(fleet.children))
        fleet.kill_all()
        if args.database_url:
            drop_schema(args.database_url, args.schema)
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sweep", default="10,100,200,500,1000", help="concurrency points")
    p.add_argument("--concurrency", type=int, help="a single point instead of the sweep")
    p.add_argument("--providers", type=int, default=4, help="simulated provider processes (K)")
    p.add_argument("--slots", type=int, default=1024, help="slots per provider")
    p.add_argument("--ttft", type=float, default=0.05, help="simulated time to first token (s)")
    p.add_argument("--tokens-per-s", type=float, default=30.0, help="per stream")
    p.add_argument("--output-tokens", type=int, default=64)
    p.add_argument(
        "--batch-window-ms", type=float, default=5.0, help="providers' --batch-window-ms"
    )
    p.add_argument("--measure", type=float, default=8.0, help="seconds measured per path")
    p.add_argument("--min-ramp", type=float, default=1.0, help="least warm-up per path (s)")
    p.add_argument("--settle", type=float, default=1.0, help="pause between runs (s)")
    p.add_argument("--no-ceiling", dest="ceiling", action="store_false")
    p.add_argument("--ceiling-concurrency", type=int, default=100)
    p.add_argument("--ceiling-tokens-per-s", type=float, default=1000.0)
    p.add_argument("--ceiling-output-tokens", type=int, default=1000)
    p.add_argument("--soak", type=float, default=0.0, help="soak seconds (RSS over time)")
    p.add_argument("--soak-concurrency", type=int, default=100)
    p.add_argument("--soak-warmup", type=float, default=30.0)
    p.add_argument(
        "--profile", type=Path, help="py-spy the coordinator at the top concurrency into DIR"
    )
    p.add_argument(
        "--database-url",
        help="run the coordinator on Postgres (a fresh schema) instead of the memory store",
    )
    p.add_argument(
        "--replicas", type=int, default=1,
        help="coordinator processes on one port (`serve --replicas`; needs --database-url)",
    )  # fmt: skip
    p.add_argument("--nats-url", default="nats://127.0.0.1:4222", help="NATS for --replicas")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = p.parse_args(argv)
    args.schema = f"bench_load_{secrets.token_hex(4)}"
    if args.replicas > 1 and not args.database_url:
        p.error("--replicas N > 1 needs --database-url (the replicas share Postgres)")
    args.sweep = [args.concurrency] if args.concurrency else [
        int(x) for x in args.sweep.split(",") if x.strip()
    ]  # fmt: skip
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.time()
    measured = trio.run(run, args)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"load-{stamp}.json"
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result: dict[str, Any] = {
        "commit": git_commit(),
        "started": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(),
        "duration_s": round(time.time() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "params": params,
        **measured,
    }
    if "soak" in measured:
        soak = measured["soak"]
        if soak["store"] == "memory":
            print(
                "note: the memory store keeps every hold, ledger entry and usage row, so the "
                "coordinator's RSS grows with requests by design; soak with --database-url "
                "to look for leaks"
            )
        print(
            f"soak {soak['seconds']:.0f}s at {soak['concurrency']} streams: coordinator RSS "
            f"{soak['rss_min_mb']}-{soak['rss_max_mb']} MB (first {soak['rss_first_mb']} MB); "
            f"flat within ±10%: {'yes' if soak['flat_within_10_percent'] else 'NO'}; "
            f"{soak['rss_growth_kb_per_1000_requests']} kB per 1,000 requests "
            f"({soak['store']} store); errors {soak['load']['errors']}"
        )
    else:
        points, ceiling = measured["points"], measured.get("ceiling")
        result["targets"] = check_targets(points, ceiling)
        print(
            f"\n{args.providers} simulated providers / sim servers; TTFT {args.ttft * 1000:g} ms; "
            f"sweep at {args.tokens_per_s:g} tok/s x {args.output_tokens} tokens per stream"
            + (
                f"; ceiling at {args.ceiling_concurrency} streams of "
                f"{args.ceiling_tokens_per_s:g} tok/s x {args.ceiling_output_tokens} tokens"
                if ceiling
                else ""
            )
        )
        print(table(points, ceiling))
        print()
        print(targets_table(result["targets"]))
        if len(points) > 1:
            png = plot(points, out.with_suffix(".png"))
            result["plot"] = None if png is None else png.name
            print(f"wrote {png}" if png else "matplotlib missing: no plot")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
