"""Coordinators in cluster mode (in-process, real NATS and Postgres): `/healthz` names the
replica, `/admin/cluster` lists the replicas and drops one that stops; without NATS the
coordinator is one replica, alone, and never touches NATS."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest

from switchyard.actors.scheduler_messages import ModelsQuery
from switchyard.coordinator import open_coordinator
from switchyard.settings import Settings
from tests.cluster.inproc import cluster_settings
from tests.integration.harness import Running, coordinator
from tests.integration.test_admin_cli import cli
from tests.integration.test_launch import error_lines, run_cli
from tests.polling import wait_until


@asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[Running]:
    async with coordinator(settings) as running:
        yield running


async def cluster_view(running: Running) -> dict[str, Any]:
    response = await running.admin.get("/admin/cluster")
    assert response.status_code == 200
    return response.json()


def live(view: dict[str, Any]) -> set[str]:
    return {r["id"] for r in view["replicas"] if r["live"]}


@pytest.mark.postgres
async def test_replicas_list_each_other(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    base = cluster_settings(nats_url, cluster_name, pg_url, pg_schema)
    async with (
        replica(replace(base, replica_id="alpha")) as a,
        replica(replace(base, replica_id="beta")) as b,
    ):
        health = (await a.admin.get("/healthz")).json()
        assert health == {"status": "ok", "replica_id": "alpha"}
        view = await wait_until(
            lambda: _when(cluster_view(b), lambda v: live(v) == {"alpha", "beta"})
        )
        assert view["cluster"] == cluster_name and view["replica_id"] == "beta"
        assert view["nats"]["connected"] is True
        alpha = next(r for r in view["replicas"] if r["id"] == "alpha")
        assert alpha["url"] == a.base_url and alpha["self"] is False
        assert alpha["info"] == {"providers": 0}
        assert alpha["last_seen"] > 0 and alpha["started_at"] > 0
        async with httpx.AsyncClient(base_url=a.base_url) as anonymous:
            assert (await anonymous.get("/admin/cluster")).status_code == 401
        # the replicas' actors are reachable from each other through the cluster endpoint
        assert a.coord.cluster is not None and b.coord.cluster is not None
        a.coord.cluster.registry.register(ModelsQuery)
        b.coord.cluster.registry.register(ModelsQuery)
        scheduler_b = a.coord.cluster.endpoint.ref("beta", "/root/scheduler")
        assert await scheduler_b.ask(ModelsQuery(), timeout=5) == {}
        table = await cli(b, "cluster", "--table")  # the same view from the admin CLI
        lines = table.stdout.splitlines()
        assert lines[0] == f"cluster {cluster_name} · replica beta · NATS connected"
        assert lines[1].split() == ["id", "self", "live", "providers", "seen_s_ago", "url"]
        rows = {line.split()[0]: line.split() for line in lines[2:]}
        assert rows["alpha"][1:4] == ["no", "yes", "0"] and rows["alpha"][-1] == a.base_url
    # (beta stopped first, then alpha: each said goodbye)


@pytest.mark.postgres
async def test_a_stopped_replica_drops_out_of_the_view(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    base = cluster_settings(nats_url, cluster_name, pg_url, pg_schema)
    async with replica(replace(base, replica_id="stays")) as stays:
        async with replica(replace(base, replica_id="goes")):
            await wait_until(lambda: _when(cluster_view(stays), lambda v: "goes" in live(v)))
        view = await wait_until(
            lambda: _when(cluster_view(stays), lambda v: live(v) == {"stays"}), timeout=3
        )
        goes = next(r for r in view["replicas"] if r["id"] == "goes")
        assert goes["live"] is False


async def test_without_nats_the_coordinator_is_one_replica() -> None:
    async with coordinator() as running:
        view = await cluster_view(running)
        assert view["cluster"] is None and view["nats"] is None
        assert [(r["id"], r["live"], r["self"]) for r in view["replicas"]] == [
            (running.coord.replica_id, True, True)
        ]
        assert running.coord.cluster is None
        table = (await cli(running, "--table", "cluster")).stdout
        assert table.startswith("cluster - · replica r-") and "no NATS (one process)" in table


async def test_cluster_mode_without_postgres_is_refused() -> None:
    with pytest.raises(ValueError, match="database-url"):
        async with open_coordinator(Settings(nats_url="nats://127.0.0.1:4222")):
            pass


def test_single_process_does_not_import_nats() -> None:
    import subprocess

    code = (
        "import sys, switchyard.coordinator, switchyard.launch, switchyard.http.app;"
        "print('nats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def _when(view: Any, predicate: Any) -> Any:
    value = await view
    return value if predicate(value) else None


async def test_serve_refuses_cluster_mode_without_postgres_in_one_line() -> None:
    result = await run_cli("serve", "--port", "0", "--nats-url", "nats://127.0.0.1:4222")
    assert result.returncode == 2
    assert "--nats-url (cluster mode) needs a Postgres --database-url" in result.stderr.decode()
    result = await run_cli("serve", "--replica-id", "no spaces", "--database-url", "x",
                           "--nats-url", "nats://127.0.0.1:4222")  # fmt: skip
    assert result.returncode == 2 and "--replica-id must be" in result.stderr.decode()


@pytest.mark.postgres
async def test_serve_requiring_nats_exits_in_one_line_when_it_is_unreachable(
    pg_url: str, pg_schema: str
) -> None:
    result = await run_cli(
        "serve", "--port", "0", "--database-url", pg_url, "--require-nats",
        "--nats-url", "nats://user:secret@127.0.0.1:1",
        env={"SWITCHYARD_DATABASE_SCHEMA": pg_schema},
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: cannot connect to NATS at nats://***@127.0.0.1:1")
    assert b"secret" not in result.stderr


async def test_serve_refuses_a_malformed_nats_url_or_require_nats_alone() -> None:
    for url in ("nats://127.0.0.1:notaport", "http://127.0.0.1:4222", "nats://a:1,nats://b:2"):
        result = await run_cli("serve", "--port", "0", "--database-url", "x", "--nats-url", url)
        assert result.returncode == 2, url
        assert "--nats-url must look like nats://HOST:PORT" in result.stderr.decode()
    result = await run_cli("serve", "--port", "0", env={"SWITCHYARD_REQUIRE_NATS": "1"})
    assert result.returncode == 2
    assert "--require-nats needs --nats-url" in result.stderr.decode()
