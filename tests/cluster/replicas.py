"""Multi-process cluster harness: N real `switchyard serve` replicas on one NATS and one
Postgres schema.

    async with replica_set(3, nats_url=..., pg_url=..., pg_schema=..., cluster=...) as rs:
        a, b, c = rs.replicas            # Replica: replica_id, base_url, admin (httpx client)
        await rs.wait_cluster()          # every live replica sees exactly the live set
        await rs.kill(b)                 # kill -9: no goodbye, no flush
        await rs.stop(c)                 # SIGTERM: graceful
        await rs.start("b")              # start another (or the same id again)
        await rs.start_provider(a, token, str(tmp_path / "key"))   # `switchyard provider`

Each replica is `python -m switchyard.cli serve --port 0` with a clean environment (no
inherited SWITCHYARD_* variables) plus `env` and per-replica `extra_env`; its stderr is
read continuously (the pipe never fills) and kept, the last 256 KiB, for failure
messages (`Replica.log`). Everything still running is killed on exit.

Providers: real `switchyard provider` processes (`start_provider`) or in-process
`ProviderAgent`s pointed at a chosen replica's `base_url`
(`tests/integration/test_sigterm.py::provision` funds an account and makes a provider
token over the admin API).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from tests.polling import wait_until

ADMIN_KEY = "cluster-admin-key"
START_TIMEOUT_S = 60.0  # several replicas importing at once on a busy 2-core machine
LOG_KEEP_BYTES = 256 * 1024
_LISTENING = re.compile(rb"listening on (http://\S+)")


@dataclass
class Replica:
    """One `switchyard serve` process of the set."""

    replica_id: str
    process: trio.Process
    base_url: str = ""
    admin: httpx.AsyncClient = field(init=False)
    log: bytearray = field(default_factory=bytearray)

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def cluster(self) -> dict[str, Any]:
        """Its `GET /admin/cluster`."""
        response = await self.admin.get("/admin/cluster")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def live_ids(self) -> set[str]:
        return {r["id"] for r in (await self.cluster())["replicas"] if r["live"]}


class ReplicaSet:
    """The replicas of one test cluster; see the module docstring."""

    def __init__(
        self, nursery: trio.Nursery, env: dict[str, str], admin_key: str = ADMIN_KEY
    ) -> None:
        self.replicas: list[Replica] = []
        self.providers: list[trio.Process] = []
        self.admin_key = admin_key
        self._env = env
        self._nursery = nursery

    def __getitem__(self, index: int) -> Replica:
        return self.replicas[index]

    @property
    def running(self) -> list[Replica]:
        return [r for r in self.replicas if r.running]

    async def start(
        self, replica_id: str | None = None, extra_env: Mapping[str, str] | None = None
    ) -> Replica:
        """Start one more replica and wait until it listens (its id: `replica_id` or
        `r<N>`)."""
        replica_id = replica_id or f"r{len(self.replicas)}"
        env = {**self._env, "SWITCHYARD_REPLICA_ID": replica_id, **(extra_env or {})}
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "switchyard.cli", "serve", "--port", "0"],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        replica = Replica(replica_id, process)
        self.replicas.append(replica)
        listening = trio.Event()
        self._nursery.start_soon(self._read_log, replica, listening)
        with trio.move_on_after(START_TIMEOUT_S):
            await listening.wait()
        if not replica.base_url:
            process.kill()
            await process.wait()
            raise AssertionError(f"replica {replica_id} did not start:\n{replica.log.decode()}")
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        replica.admin = httpx.AsyncClient(base_url=replica.base_url, headers=headers, timeout=10)
        return replica

    async def _read_log(self, replica: Replica, listening: trio.Event) -> None:
        stderr = replica.process.stderr
        assert stderr is not None
        while chunk := await stderr.receive_some():
            replica.log += chunk
            if not replica.base_url and (match := _LISTENING.search(replica.log)):
                replica.base_url = match.group(1).decode()
                listening.set()
            if len(replica.log) > LOG_KEEP_BYTES:
                del replica.log[: len(replica.log) - LOG_KEEP_BYTES]
        listening.set()  # exited: start() reports the log

    async def start_provider(
        self, replica: Replica, token: str, key_file: str, *args: str
    ) -> trio.Process:
        """A real `switchyard provider` process (simulated backend unless `args` say
        otherwise) connected to `replica`; killed with the set. `key_file` is where its
        identity key is created (use a test's tmp_path)."""
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "switchyard.cli", "provider", "--coordinator",
             replica.base_url, "--token", token, "--key-file", key_file, *args],
            env=self._env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.providers.append(process)
        return process

    async def kill(self, replica: Replica) -> None:
        """kill -9 the replica and reap it."""
        replica.process.send_signal(signal.SIGKILL)
        await replica.process.wait()

    async def stop(self, replica: Replica, timeout: float = 30.0) -> int:
        """SIGTERM (graceful drain); kill -9 after `timeout`. Returns its exit code."""
        replica.process.send_signal(signal.SIGTERM)
        with trio.move_on_after(timeout):
            return await replica.process.wait()
        await self.kill(replica)
        return await replica.process.wait()

    async def wait_cluster(self, timeout: float = 15.0) -> None:
        """Until every running replica sees exactly the running replicas as live."""
        expected = {r.replica_id for r in self.running}

        async def agreed() -> bool:
            for replica in self.running:
                if await replica.live_ids() != expected:
                    return False
            return True

        await wait_until(agreed, timeout=timeout, interval=0.05)

    async def aclose(self) -> None:
        for process in self.providers:
            if process.returncode is None:
                process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        for replica in self.replicas:
            if replica.running:
                replica.process.kill()
            with trio.CancelScope(shield=True):
                await replica.process.wait()
                if hasattr(replica, "admin"):
                    await replica.admin.aclose()


def replica_env(
    *, nats_url: str, pg_url: str, pg_schema: str, cluster: str, admin_key: str = ADMIN_KEY
) -> dict[str, str]:
    """This environment without SWITCHYARD_* variables, plus the cluster's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    env.update(
        SWITCHYARD_DATABASE_URL=pg_url,
        SWITCHYARD_DATABASE_SCHEMA=pg_schema,
        SWITCHYARD_ADMIN_KEY=admin_key,
        SWITCHYARD_NATS_URL=nats_url,
        SWITCHYARD_CLUSTER_NAME=cluster,
    )
    return env


@asynccontextmanager
async def replica_set(
    count: int,
    *,
    nats_url: str,
    pg_url: str,
    pg_schema: str,
    cluster: str,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[ReplicaSet]:
    """`count` replicas started together (ids r0, r1, ...) and seeing each other; all
    killed on exit. `env` adds variables to every replica."""
    base = {
        **replica_env(nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster),
        **(env or {}),
    }
    async with trio.open_nursery() as nursery:
        replicas = ReplicaSet(nursery, base)
        try:
            async with trio.open_nursery() as starting:
                for i in range(count):
                    starting.start_soon(replicas.start, f"r{i}")
            replicas.replicas.sort(key=lambda r: r.replica_id)
            await replicas.wait_cluster()
            yield replicas
        finally:
            await replicas.aclose()
            nursery.cancel_scope.cancel()
