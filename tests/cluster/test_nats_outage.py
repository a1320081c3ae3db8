"""NATS going away and coming back (a nats-server of the test's own, on its own port):
replicas keep serving their own providers, say `degraded` in /readyz and 0 in the
`switchyard_cluster_nats_connected` gauge, limit rates alone, and rejoin each other when
the server returns. A replica started while NATS is unreachable (its connection through a
proxy that refuses; the shared server stays up) starts in that same degraded state and
joins fully once NATS lets it through."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import openai
import pytest
import trio

from switchyard.cluster.shared_ratelimit import BUCKET
from tests.conftest import nats_reachable
from tests.integration.harness import Running, coordinator, funded_key
from tests.polling import wait_until

from .inproc import cluster_settings, local_agents, two_replicas
from .nats_proxy import nats_proxy

pytestmark = pytest.mark.postgres

MESSAGES: Any = [{"role": "user", "content": "hi"}]
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
HAVE_NATS_SERVER = os.path.exists(NATS_SERVER)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OwnNats:
    """A nats-server (JetStream on, state in `store_dir`) the test starts and stops."""

    def __init__(self, port: int, store_dir: Path) -> None:
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        self.store_dir = store_dir
        self.process: trio.Process | None = None

    async def start(self) -> None:
        self.process = await trio.lowlevel.open_process(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd",
             str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await wait_until(lambda: nats_reachable(self.url) is None, timeout=10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None


@asynccontextmanager
async def own_nats(tmp_path: Path) -> AsyncIterator[OwnNats]:
    if not HAVE_NATS_SERVER:
        if os.environ.get("CI") == "true":
            pytest.fail(f"nats-server not found at {NATS_SERVER}; it must run when CI=true")
        pytest.skip("nats-server binary not found")
    server = OwnNats(_free_port(), tmp_path / "jetstream")
    await server.start()
    try:
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await server.stop()


async def _ready(running: Running) -> dict[str, Any]:
    response = await running.admin.get("/readyz")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def _status_is(running: Running, status: str) -> bool:
    return (await _ready(running))["status"] == status


async def _gauge(running: Running) -> str:
    for line in (await running.admin.get("/metrics")).text.splitlines():
        if line.startswith("switchyard_cluster_nats_connected "):
            return line.split()[1]
    raise AssertionError("no switchyard_cluster_nats_connected gauge")


async def test_replicas_serve_alone_without_nats_and_rejoin(
    tmp_path: Path, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        own_nats(tmp_path) as server,
        two_replicas(server.url, cluster_name, pg_url, pg_schema) as (a, b),
        local_agents(a),
        local_agents(b),
    ):
        _, key = await funded_key(a)
        assert await _ready(a) == {"status": "ready", "nats": "connected"}
        assert await _gauge(a) == "1.0"

        await server.stop()
        for running in (a, b):
            await wait_until(lambda r=running: _status_is(r, "degraded"), timeout=15)
        body = await _ready(a)
        assert body["nats"] == "disconnected" and body["problems"]
        assert await _gauge(a) == "0.0"

        for running in (a, b):  # each still serves its own providers
            async with openai.AsyncOpenAI(
                base_url=running.base_url + "/v1", api_key=key, max_retries=0
            ) as client:
                reply = await client.chat.completions.create(model="sim-small", messages=MESSAGES)
                assert reply.choices[0].message.content
            assert running.coord.state is not None
            assert running.coord.state.limiter.stats.fallbacks >= 1  # limited alone
        listed = (await a.admin.get("/admin/providers")).json()
        assert len(listed["providers"]) == 1  # its own; it cannot see B's now

        await server.start()
        for running in (a, b):
            await wait_until(lambda r=running: _status_is(r, "ready"), timeout=20)

            async def sees_both(r: Running = running) -> bool:
                assert r.coord.cluster is not None
                return len(r.coord.cluster.membership.live_replicas()) == 2

            await wait_until(sees_both, timeout=15)
        assert await _gauge(a) == "1.0"
        listed = (await a.admin.get("/admin/providers")).json()
        assert len(listed["providers"]) == 2 and listed["replicas_unanswered"] == []


async def _live_ids(running: Running) -> set[str]:
    view = (await running.admin.get("/admin/cluster")).json()
    return {r["id"] for r in view["replicas"] if r["live"]}


async def _providers_indexed(running: Running) -> int:
    totals = (await running.admin.get("/admin/supervisor")).json()["tree"]
    (scheduler,) = [c for c in totals["children"] if c["path"] == "/root/scheduler"]
    return int(scheduler["state"]["providers_indexed"])


async def _chat(running: Running, key: str) -> str:
    async with openai.AsyncOpenAI(
        base_url=running.base_url + "/v1", api_key=key, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="sim-small", messages=MESSAGES, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def test_a_replica_started_without_nats_serves_alone_then_joins(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    base = cluster_settings(nats_url, cluster_name, pg_url, pg_schema)
    async with nats_proxy(nats_url) as proxy:
        proxy.cut()  # beta's NATS refuses from the start; alpha's is the server itself
        async with (
            coordinator(replace(base, replica_id="alpha")) as a,
            coordinator(replace(base, replica_id="beta", nats_url=proxy.url)) as b,
            local_agents(b),
        ):
            assert b.coord.cluster is not None and b.coord.state is not None
            transport, membership = b.coord.cluster.transport, b.coord.cluster.membership
            assert not transport.connected and not transport.ever_connected
            body = await _ready(b)
            assert body["status"] == "degraded" and body["nats"] == "disconnected"
            assert await _gauge(b) == "0.0"
            _, key = await funded_key(a)

            assert await _chat(b, key)  # it serves its own provider, limiting alone
            assert b.coord.state.limiter.stats.fallbacks >= 1
            assert not membership.view_complete()  # so hold recovery adopts nothing
            assert await _live_ids(a) == {"alpha"} and await _live_ids(b) == {"beta"}
            assert await _providers_indexed(a) == 0

            proxy.restore()
            await wait_until(lambda: _status_is(b, "ready"), timeout=30)
            for running in (a, b):
                await wait_until(lambda r=running: _live_ids_are(r, {"alpha", "beta"}), timeout=30)
            assert await _gauge(b) == "1.0" and transport.stats.reconnects == 0

            # alpha has no provider of its own: its consumer crosses to beta's
            await wait_until(lambda: _indexed_is(a, 1), timeout=30)
            assert await _chat(a, key)
            assert b.coord.cluster.routing is not None
            assert b.coord.cluster.routing.server.counters["served"] >= 1
            listed = (await a.admin.get("/admin/providers")).json()
            assert len(listed["providers"]) == 1 and listed["replicas_unanswered"] == []

            admitted = b.coord.state.limiter.stats.admitted
            assert await _chat(b, key)  # the shared (KV) limiter now, not the local one
            assert b.coord.state.limiter.stats.admitted == admitted + 1
            await wait_until(membership.view_complete, timeout=30)
            with trio.move_on_after(5):
                await transport.delete_key_value(BUCKET)


async def _live_ids_are(running: Running, expected: set[str]) -> bool:
    return await _live_ids(running) == expected


async def _indexed_is(running: Running, count: int) -> bool:
    return await _providers_indexed(running) == count
