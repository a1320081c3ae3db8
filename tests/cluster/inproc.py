"""In-process replicas for cluster tests: two coordinators on one NATS and one Postgres
schema (real sockets), and simulated agents connected to a chosen replica."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.actors.provider_messages import PROVIDERS_PATH
from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.agent.simulated import SimulatedConfig
from switchyard.cluster import shared_ratelimit, shared_throttle
from switchyard.settings import Settings
from tests.integration.harness import Running, coordinator, fast_settings
from tests.polling import wait_until

SIM = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=8)


def cluster_settings(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str, **settings: Any
) -> Settings:
    """Fast test settings for a replica of `cluster_name` on that NATS and Postgres schema."""
    return replace(
        fast_settings(),
        database_url=pg_url,
        database_schema=pg_schema,
        nats_url=nats_url,
        cluster_name=cluster_name,
        **settings,
    )


@asynccontextmanager
async def two_replicas(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str, **settings: Any
) -> AsyncIterator[tuple[Running, Running]]:
    base = cluster_settings(nats_url, cluster_name, pg_url, pg_schema, **settings)
    async with (
        coordinator(replace(base, replica_id="alpha")) as a,
        coordinator(replace(base, replica_id="beta")) as b,
    ):
        for running in (a, b):
            assert running.coord.cluster is not None

            async def both_live(r: Running = running) -> bool:
                assert r.coord.cluster is not None
                return len(r.coord.cluster.membership.live_replicas()) == 2

            await wait_until(both_live, timeout=10)
        try:
            yield a, b
        finally:
            assert a.coord.cluster is not None
            with trio.move_on_after(5):
                for bucket in (shared_ratelimit.BUCKET, shared_throttle.BUCKET):
                    await a.coord.cluster.transport.delete_key_value(bucket)


def local_providers(running: Running) -> list[dict[str, Any]]:
    return [s for s in running.coord.system.children_states(PROVIDERS_PATH) if "id" in s]


@asynccontextmanager
async def local_agents(running: Running, count: int = 1) -> AsyncIterator[list[str]]:
    """`count` simulated agents connected to this replica; their provider ids."""
    _, token = await running.provider_token()
    async with trio.open_nursery() as nursery:
        started = []
        for _ in range(count):
            config = AgentConfig(
                coordinator=running.base_url, token=token, models=("sim-small",), slots=4,
                simulated=SIM, reconnect_base_s=0.05, reconnect_cap_s=0.5, shutdown_grace_s=1.0,
            )  # fmt: skip
            agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
            nursery.start_soon(agent.run)
            started.append(agent)

        def online() -> bool:
            states = local_providers(running)
            return len(states) == count and all(s["routable"] for s in states)

        await wait_until(online, timeout=15)
        try:
            yield [s["id"] for s in local_providers(running)]
        finally:
            for agent in started:
                agent.stop(0.5)
