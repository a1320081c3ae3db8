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
from tests.integration.harness import Running, coordinator, fast_settings
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
    base = replace(
        fast_settings(),
        database_url=pg_url,
        database_schema=pg_schema,
        nats_url=nats_url,
        cluster_name=cluster_name,
    )
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
    # (beta stopped first, then alpha: each said goodbye)


@pytest.mark.postgres
async def test_a_stopped_replica_drops_out_of_the_view(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    base = replace(
        fast_settings(),
        database_url=pg_url,
        database_schema=pg_schema,
        nats_url=nats_url,
        cluster_name=cluster_name,
    )
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
