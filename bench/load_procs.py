"""Processes of bench/load.py: the coordinator, simulated providers, direct sim servers.

Every process is a child started here with its output going to a log file in a private
temporary directory (a full pipe would stall it). Its CPU time and memory come from
`/proc/<pid>/stat` and `/proc/<pid>/status`, so no extra dependency is needed. Children
are stopped with SIGTERM, then SIGKILL after a grace period, and always on exit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
URL_RE = re.compile(r"listening on (http://[0-9.]+:\d+)")
MODEL = "sim-small"


@dataclass(frozen=True)
class SimTiming:
    """What every simulated backend does: time to first token, token rate, output length."""

    ttft_s: float
    tokens_per_s: float
    output_tokens: int

    def flags(self) -> list[str]:
        return [
            "--ttft", str(self.ttft_s),
            "--tokens-per-s", str(self.tokens_per_s),
            "--output-tokens", str(self.output_tokens),
        ]  # fmt: skip

    @property
    def duration_s(self) -> float:
        """How long one request takes at this timing, unloaded."""
        return self.ttft_s + self.output_tokens / self.tokens_per_s


def _cpu_of(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(p) for p in (task / "children").read_text().split())
    except FileNotFoundError:
        pass
    return found


@dataclass
class Child:
    """One child process and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far, by it and its live child processes
        (`serve --replicas N` does its work in children)."""
        return sum(_cpu_of(pid) for pid in (self.pid, *_children(self.pid)))

    def memory_kb(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) in kB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    async def wait_for_url(self, timeout_s: float = 30.0) -> str:
        """The first `listening on http://...` line the child logs."""
        with trio.move_on_after(timeout_s):
            while True:
                match = URL_RE.search(self.log.read_text(errors="replace"))
                if match:
                    return match.group(1)
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                await trio.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start in {timeout_s}s: {self.tail()}")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, grace_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with trio.move_on_after(grace_s):
                await trio.to_thread.run_sync(self.proc.wait, abandon_on_cancel=True)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Fleet:
    """All children of one benchmark run, in `workdir`."""

    workdir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=self.workdir,
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    async def stop(self, children: Sequence[Child]) -> None:
        async with trio.open_nursery() as nursery:
            for child in children:
                nursery.start_soon(child.stop)
        for child in children:
            self.children.remove(child)

    def kill_all(self) -> None:
        for child in self.children:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
        self.children.clear()


def coordinator_argv(replicas: int = 1) -> list[str]:
    """`switchyard serve` on a free port; `replicas` > 1 runs that many processes on it
    (`--replicas`: NATS and Postgres come from the environment)."""
    extra = ["--replicas", str(replicas)] if replicas > 1 else []
    return [str(BIN / "switchyard"), "serve", "--host", "127.0.0.1", "--port", "0", *extra]


def provider_argv(
    url: str, token: str, key_file: Path, timing: SimTiming, slots: int, window_ms: float
) -> list[str]:
    return [
        str(BIN / "switchyard"), "provider", "--coordinator", url, "--token", token,
        "--backend", "simulated", "--models", MODEL, "--slots", str(slots),
        "--key-file", str(key_file), "--log-level", "WARNING",
        "--batch-window-ms", str(window_ms), *timing.flags(),
    ]  # fmt: skip


def sim_server_argv(timing: SimTiming) -> list[str]:
    return [
        sys.executable, "-m", "switchyard.agent.sim_server", "--port", "0",
        "--models", MODEL, *timing.flags(),
    ]  # fmt: skip


@dataclass(frozen=True)
class Accounts:
    """What the admin API created: a consumer API key and a provider token."""

    api_key: str
    provider_token: str


async def provision(base_url: str, admin_key: str) -> Accounts:
    """A funded account with an unthrottled key, pricing, and a provider token."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:

        async def post(path: str, body: dict[str, object]) -> dict[str, object]:
            resp = await http.post(path, json=body)
            resp.raise_for_status()
            return resp.json()

        account = await post("/admin/accounts", {"name": "bench-consumer"})
        await post(
            f"/admin/accounts/{account['id']}/credit",
            {"amount_micro_usd": 10**15, "reason": "load benchmark"},
        )
        key = await post(
            f"/admin/accounts/{account['id']}/keys",
            {"name": "bench", "rpm": 10**9, "tpm": 10**9},
        )
        resp = await http.put(
            f"/admin/pricing/{MODEL}",
            json={"input_micro_usd_per_mtok": 100_000, "output_micro_usd_per_mtok": 300_000},
        )
        resp.raise_for_status()
        owner = await post("/admin/accounts", {"name": "bench-provider-owner"})
        token = await post("/admin/provider-tokens", {"account_id": owner["id"], "name": "bench"})
    return Accounts(str(key["key"]), str(token["token"]))


async def wait_providers(base_url: str, admin_key: str, count: int, timeout_s: float) -> None:
    """Until exactly `count` providers are routable: the new fleet is up, the old one gone."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        with trio.move_on_after(timeout_s):
            while True:
                resp = await http.get("/admin/providers")
                providers = resp.json()["providers"]
                if sum(1 for p in providers if p["routable"]) == count:
                    return
                await trio.sleep(0.1)
    raise RuntimeError(f"{count} providers did not come online in {timeout_s}s")
