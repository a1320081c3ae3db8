"""Real `switchyard serve` replicas on one NATS and one Postgres: they list each other in
`/admin/cluster` (with the providers each holds), a kill -9 drops a replica from every
view within 3 s, a replica restarted under the same id rejoins, and one started while its
NATS is unreachable starts degraded and joins when NATS answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from tests.integration.test_sigterm import PRICE, provision
from tests.polling import wait_until

from .nats_proxy import nats_proxy
from .replicas import Replica, replica_set

pytestmark = pytest.mark.postgres


async def test_replicas_list_each_other_and_a_killed_one_lapses_within_3_s(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with replica_set(
        3, nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name
    ) as rs:
        r0, r1, r2 = rs.replicas
        view = await r2.cluster()
        assert view["cluster"] == cluster_name and view["replica_id"] == "r2"
        assert {r["id"]: r["url"] for r in view["replicas"]} == {
            r.replica_id: r.base_url for r in rs.replicas
        }
        async with httpx.AsyncClient(base_url=r1.base_url) as client:
            assert (await client.get("/healthz")).json()["replica_id"] == "r1"

        await rs.kill(r1)
        with trio.fail_after(3.0):  # the bound: dropped from every view within 3 s
            for survivor in (r0, r2):
                await wait_until(
                    lambda s=survivor: _live_is(s, {"r0", "r2"}), timeout=3.0, interval=0.05
                )
        view = await r0.cluster()
        assert next(r for r in view["replicas"] if r["id"] == "r1")["live"] is False

        restarted = await rs.start("r1")  # same id, new process: it rejoins
        await rs.wait_cluster()
        assert await restarted.live_ids() == {"r0", "r1", "r2"}


async def test_each_replica_shows_the_providers_the_others_hold(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str, tmp_path: Path
) -> None:
    async with replica_set(
        2, nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name
    ) as rs:
        r0, r1 = rs.replicas
        token, _, _ = await provision(r0.admin, 1_000_000, PRICE)  # one Postgres: r1 knows it
        agent = ProviderAgent(
            AgentConfig(coordinator=r1.base_url, token=token, models=("sim-small",)),
            key=Ed25519PrivateKey.generate(),
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent.run)
            await rs.start_provider(r0, token, str(tmp_path / "provider-key"), "--slots", "2")
            with trio.fail_after(15):
                await agent.wait_online()
            for viewer, other in ((r0, "r1"), (r1, "r0")):
                assert await wait_until(lambda v=viewer, o=other: _providers(v, o), timeout=15) == 1
            agent.stop(1.0)


async def _providers(viewer: Replica, replica_id: str) -> object:
    view = await viewer.cluster()
    return next(r for r in view["replicas"] if r["id"] == replica_id)["info"]["providers"]


async def _live_is(replica: Replica, expected: set[str]) -> bool:
    return await replica.live_ids() == expected


async def test_a_replica_started_while_nats_is_unreachable_joins_when_it_answers(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        nats_proxy(nats_url) as proxy,
        replica_set(
            1, nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name
        ) as rs,
    ):
        proxy.cut()
        late = await rs.start("r1", extra_env={"SWITCHYARD_NATS_URL": proxy.url})
        assert b"serving this replica's own providers alone (degraded)" in late.log
        ready = (await late.admin.get("/readyz")).json()
        assert ready["status"] == "degraded" and ready["nats"] == "disconnected"
        assert await late.live_ids() == {"r1"} and await rs[0].live_ids() == {"r0"}

        proxy.restore()
        await rs.wait_cluster(timeout=30)
        await wait_until(lambda: _ready_is(late, "ready"), timeout=30)


async def _ready_is(replica: Replica, status: str) -> bool:
    return bool((await replica.admin.get("/readyz")).json()["status"] == status)
