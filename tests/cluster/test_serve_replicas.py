"""`switchyard serve --replicas 2` as a real process: two replicas answer on one port
(SO_REUSEPORT), form a cluster, a killed one is restarted under its id, SIGTERM stops
them all; without NATS and Postgres it refuses to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.polling import wait_until

from .replicas import ADMIN_KEY, replica_env
from .test_nats_outage import _free_port

pytestmark = pytest.mark.postgres


def _children(pid: int) -> set[int]:
    """Child pids of `pid` (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(p) for p in text)
    return found


async def _healthz_ids(url: str, tries: int) -> set[str]:
    """Replica ids answering /healthz over `tries` fresh connections."""
    seen = set()
    for _ in range(tries):
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            seen.add((await client.get("/healthz")).json()["replica_id"])
    return seen


async def test_two_processes_share_one_port_and_are_supervised(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    port = _free_port()
    env = replica_env(nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name)
    command = [sys.executable, "-m", "switchyard.cli", "serve", "--replicas", "2",
               "--port", str(port), "--replica-id", "multi"]  # fmt: skip
    parent = await trio.lowlevel.open_process(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    admin = httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )
    try:

        async def both_answer() -> bool:
            try:
                return await _healthz_ids(url, 20) == {"multi-0", "multi-1"}
            except httpx.TransportError:
                return False

        await wait_until(both_answer, timeout=60, interval=0.2)

        async def both_live() -> bool:
            view = (await admin.get("/admin/cluster")).json()
            return {r["id"] for r in view["replicas"] if r["live"]} == {"multi-0", "multi-1"}

        await wait_until(both_live, timeout=15)
        first = _children(parent.pid)
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            now = _children(parent.pid)
            return len(now) == 2 and victim not in now

        await wait_until(replaced, timeout=15)
        await wait_until(both_answer, timeout=60, interval=0.2)
        await wait_until(both_live, timeout=15)

        second = _children(parent.pid)
        parent.send_signal(signal.SIGTERM)
        with trio.fail_after(60):
            assert await parent.wait() == 0
        for pid in first | second:  # every child stopped (and was reaped) with the parent
            assert _gone(pid)
    finally:
        if parent.returncode is None:
            for pid in _children(parent.pid):
                os.kill(pid, signal.SIGKILL)
            parent.kill()
            await parent.wait()
        await admin.aclose()


def _gone(pid: int) -> bool:
    """The process exited (reaped, or a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_more_than_one_replica_needs_nats_and_postgres() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    out = subprocess.run(
        [sys.executable, "-m", "switchyard.cli", "serve", "--replicas", "2"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--replicas N > 1" in out.stderr and "--nats-url" in out.stderr
