"""`switchyard serve --replicas N`: N coordinator processes on one port, supervised.

One Python process saturates one core (hypercorn's write path is most of it), so on a
machine with several cores the coordinator runs as N replicas of one cluster. This module
is the parent: it binds the port first (so a taken port fails at once, in one line),
starts N children `python -m switchyard.cli serve` with `SWITCHYARD_REUSE_PORT=1` (each
binds the same host:port with SO_REUSEPORT and the kernel spreads new connections over
them), each under its own replica id `<base>-<i>` on the given NATS and Postgres, and:

- restarts a child that exits while it should run (with back-off: 0.5 s doubling up to
  30 s, reset once a child has run for a minute), under the same replica id, so the
  cluster sees it rejoin and its holds are recovered (`cluster/hold_recovery.py`);
- on SIGTERM or SIGINT sends SIGTERM to every child (each drains gracefully) and waits
  for them (after the drain grace plus 15 s a child is killed), then exits.

The children inherit the environment (every other SWITCHYARD_* setting applies to all of
them) and write their logs to the same stderr. The parent serves nothing itself.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass

import trio

from .cluster.ids import new_replica_id
from .settings import Settings

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long restarts without back-off
STOP_EXTRA_S = 15.0  # beyond the drain grace, before a stopping child is killed


def replicas_problem(settings: Settings, replicas: int) -> str | None:
    """Why `--replicas` cannot run with these settings, or None."""
    if replicas < 1:
        return "--replicas must be at least 1"
    if replicas > 1 and not (settings.nats_url and settings.database_url):
        return (
            "--replicas N > 1 runs N replicas of a cluster: it needs --nats-url and a "
            "Postgres --database-url"
        )
    return None


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class Child:
    """One supervised replica process."""

    replica_id: str
    process: trio.Process | None = None
    started: float = 0.0
    restarts: int = 0
    backoff_s: float = BACKOFF_START_S


class ReplicaSupervisor:
    """See the module docstring."""

    def __init__(self, settings: Settings, replicas: int) -> None:
        self.settings = settings
        base = settings.replica_id or new_replica_id()
        self.children = [Child(f"{base}-{i}") for i in range(replicas)]
        self.port = settings.port
        self.stopping = False

    def child_env(self, child: Child) -> dict[str, str]:
        """The environment of a child: this one's, plus its replica id and the shared port."""
        s = self.settings
        env = dict(os.environ)
        overrides = {
            "SWITCHYARD_HOST": s.host,
            "SWITCHYARD_PORT": str(self.port),
            "SWITCHYARD_DATABASE_URL": s.database_url,
            "SWITCHYARD_DATABASE_SCHEMA": s.database_schema,
            "SWITCHYARD_ADMIN_KEY": s.admin_key,
            "SWITCHYARD_NATS_URL": s.nats_url,
            "SWITCHYARD_CLUSTER_NAME": s.cluster_name,
            "SWITCHYARD_REQUIRE_NATS": "1" if s.require_nats else None,
            "SWITCHYARD_REPLICA_ID": child.replica_id,
            "SWITCHYARD_REUSE_PORT": "1",
            "SWITCHYARD_REPLICAS": "1",
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        return env

    async def run(self) -> None:
        """Bind, start the children, supervise them until SIGTERM/SIGINT, stop them."""
        with reuse_port_socket(self.settings.host, self.settings.port) as held:
            # held (bound, never listening) reserves the port and fixes it when it is 0
            self.port = held.getsockname()[1]
            log.info(
                "serving %d replicas on %s:%d (SO_REUSEPORT)",
                len(self.children), self.settings.host, self.port,
            )  # fmt: skip
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async with trio.open_nursery() as nursery:
                    for child in self.children:
                        nursery.start_soon(self._keep_running, child)
                    async for signum in signals:
                        log.info("received %s: stopping replicas", signal.Signals(signum).name)
                        break
                    self.stopping = True
                    await self._stop_all()
                    nursery.cancel_scope.cancel()

    async def _start(self, child: Child) -> trio.Process:
        command = [sys.executable, "-m", "switchyard.cli", "serve"]
        process = await trio.lowlevel.open_process(command, env=self.child_env(child))
        child.process, child.started = process, time.monotonic()
        log.info("replica %s started (pid %d)", child.replica_id, process.pid)
        return process

    async def _keep_running(self, child: Child) -> None:
        while not self.stopping:
            process = await self._start(child)
            code = await process.wait()
            if self.stopping:
                return
            ran = time.monotonic() - child.started
            if ran >= HEALTHY_AFTER_S:
                child.backoff_s = BACKOFF_START_S
            child.restarts += 1
            log.warning(
                "replica %s (pid %d) exited with %d after %.1f s; restarting in %.1f s",
                child.replica_id, process.pid, code, ran, child.backoff_s,
            )  # fmt: skip
            await trio.sleep(child.backoff_s)
            child.backoff_s = min(BACKOFF_MAX_S, child.backoff_s * 2)

    async def _stop_all(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        with trio.move_on_after(self.settings.shutdown_grace_s + STOP_EXTRA_S):
            for process in running:
                await process.wait()
        for process in running:
            if process.returncode is None:
                log.error("replica pid %d did not stop in time: killed", process.pid)
                process.kill()
                await process.wait()
