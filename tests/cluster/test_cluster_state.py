"""Cluster-wide state with two coordinators on one NATS and one Postgres (in-process,
real sockets, real agents): exact rate limits across replicas, revocation and price
changes seen everywhere within 1 s, admin calls reaching the replica that owns a provider,
cluster-wide admin views."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import AgentFatalError, ProviderAgent
from switchyard.agent.config import AgentConfig
from tests.integration.harness import Running, funded_key
from tests.polling import wait_until

from .inproc import SIM, local_agents, local_providers, two_replicas

pytestmark = pytest.mark.postgres

MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def _key_id(running: Running, key: str) -> str:
    record = await running.coord.store.lookup_api_key(key)
    assert record is not None
    return record.id


async def test_a_10_rpm_key_gets_exactly_10_of_20_over_two_replicas(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema) as (a, b),
        local_agents(a),
        local_agents(b),
    ):
        _, key = await funded_key(a)
        key_id = await _key_id(a, key)
        assert (await a.admin.put(f"/admin/keys/{key_id}/limits", json={"rpm": 10})).is_success
        outcomes: list[tuple[str, int]] = []

        async def send(running: Running, name: str) -> None:
            async with openai.AsyncOpenAI(
                base_url=running.base_url + "/v1", api_key=key, max_retries=0
            ) as client:
                try:
                    reply = await client.chat.completions.create(
                        model="sim-small", messages=MESSAGES, max_tokens=8
                    )
                    assert reply.choices[0].message.content
                    outcomes.append((name, 200))
                except openai.RateLimitError as exc:
                    assert exc.response.headers.get("retry-after")
                    outcomes.append((name, 429))

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(send, (a, b)[i % 2], "ab"[i % 2])
        admitted = [name for name, status in outcomes if status == 200]
        assert len(outcomes) == 20 and len(admitted) == 10
        for running in (a, b):
            assert running.coord.state is not None
            assert running.coord.state.limiter.stats.fallbacks == 0
        metrics = (await a.admin.get("/metrics")).text
        assert "switchyard_cluster_nats_connected 1.0" in metrics
        assert 'switchyard_ratelimit_shared_decisions_total{result="admitted"}' in metrics


async def test_revocation_and_price_change_on_a_are_seen_on_b_within_a_second(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema, key_cache_ttl_s=600.0) as (a, b),
        local_agents(b),
    ):
        account_id, key = await funded_key(a)
        key_id = await _key_id(a, key)
        price = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 1_000_000}
        assert (await a.admin.put("/admin/pricing/sim-small", json=price)).is_success
        async with openai.AsyncOpenAI(
            base_url=b.base_url + "/v1", api_key=key, max_retries=0
        ) as client:
            first = await client.chat.completions.create(model="sim-small", messages=MESSAGES)
            assert first.usage is not None
            # B has cached the key (for 600 s) and the price (5 s); change both on A:
            # B hears of each within 1 s, and its very next request obeys it
            assert b.coord.state is not None
            calls = b.coord.state.calls
            seen = calls.changes_seen
            dearer = {k: v * 100 for k, v in price.items()}
            assert (await a.admin.put("/admin/pricing/sim-small", json=dearer)).is_success
            with trio.fail_after(1.0):
                await wait_until(lambda: calls.changes_seen > seen, interval=0.01)
            assert await _cost_ratio_at_least(b, client, account_id, 50)
            seen = calls.changes_seen
            assert (await a.admin.delete(f"/admin/keys/{key_id}")).is_success
            with trio.fail_after(1.0):
                await wait_until(lambda: calls.changes_seen > seen, interval=0.01)
            assert await _refused(client)


async def _refused(client: openai.AsyncOpenAI) -> bool:
    try:
        await client.models.list()
    except openai.AuthenticationError:
        return True
    return False


async def _cost_ratio_at_least(
    b: Running, client: openai.AsyncOpenAI, account_id: str, ratio: int
) -> bool:
    """One request on B; True when it cost at least `ratio` x the first one did."""
    await client.chat.completions.create(model="sim-small", messages=MESSAGES)

    async def settled() -> list[Any] | None:
        rows = await b.coord.store.recent_usage(account_id, limit=2)
        return rows if len(rows) >= 2 and rows[0].cost_micro_usd else None

    rows = await wait_until(settled, timeout=10)
    first = (await b.coord.store.recent_usage(account_id, limit=100))[-1]
    return rows[0].cost_micro_usd >= ratio * first.cost_micro_usd


async def test_admin_calls_reach_the_owning_replica_and_views_span_the_cluster(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema) as (a, b),
        local_agents(a) as on_a,
        local_agents(b, 2) as on_b,
    ):
        listed = (await a.admin.get("/admin/providers")).json()
        assert listed["replicas_unanswered"] == []
        where = {p["id"]: p["replica"] for p in listed["providers"]}
        assert where == {on_a[0]: "alpha", on_b[0]: "beta", on_b[1]: "beta"}

        totals = (await a.admin.get("/admin/supervisor")).json()
        assert set(totals["replica_totals"]) == {"alpha", "beta"}
        assert totals["totals"]["actors"] == sum(
            t["actors"] for t in totals["replica_totals"].values()
        )
        assert totals["totals"]["reserved_slots"] == 0 and totals["replicas_unanswered"] == []

        # drain via A of a provider on B
        drained = await a.admin.post(f"/admin/providers/{on_b[0]}/drain")
        assert drained.json() == {"id": on_b[0], "status": "draining", "replica": "beta"}

        def draining_on_b() -> bool:
            return any(
                s["id"] == on_b[0] and s["status"] in ("draining", "offline")
                for s in local_providers(b)
            ) or all(s["id"] != on_b[0] for s in local_providers(b))

        await wait_until(draining_on_b, timeout=5)
        missing = await a.admin.post("/admin/providers/prov-nowhere/drain")
        assert missing.status_code == 404

        # disconnect via B of A's provider
        gone = await b.admin.post(f"/admin/providers/{on_a[0]}/disconnect")
        assert gone.json()["replica"] == "alpha"


async def test_token_revocation_via_a_closes_connections_on_b(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with two_replicas(nats_url, cluster_name, pg_url, pg_schema) as (a, b):
        owner, token = await a.provider_token()
        config = AgentConfig(
            coordinator=b.base_url, token=token, models=("sim-small",), slots=1,
            simulated=SIM, reconnect_base_s=0.05, reconnect_cap_s=0.2, shutdown_grace_s=0.5,
        )  # fmt: skip
        agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
        refused: list[AgentFatalError] = []

        async def run_agent() -> None:
            try:
                await agent.run()
            except AgentFatalError as exc:  # the coordinator closed it with 4015
                refused.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_agent)
            await wait_until(lambda: len(local_providers(b)) == 1, timeout=15)
            provider_id = local_providers(b)[0]["id"]
            token_id = await _token_id(a, owner)
            revoked = (await a.admin.delete(f"/admin/provider-tokens/{token_id}")).json()
            assert revoked["disconnected"] == [provider_id]
            assert revoked["replicas_unanswered"] == []
            await wait_until(lambda: not local_providers(b) and refused, timeout=5)
            assert "4015" in str(refused[0])


async def _token_id(running: Running, owner: str) -> str:
    tokens = await running.coord.store.list_provider_tokens(owner)
    assert len(tokens) == 1
    return tokens[0].id


async def test_a_silent_replica_is_named_not_waited_for(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with two_replicas(nats_url, cluster_name, pg_url, pg_schema) as (a, b):
        assert b.coord.state is not None
        b.coord.state.calls.handlers.clear()  # B answers every call with an error now
        with trio.fail_after(3):
            listed = (await a.admin.get("/admin/providers")).json()
        assert listed == {"providers": [], "replicas_unanswered": ["beta"]}
        async with httpx.AsyncClient(base_url=a.base_url) as anonymous:
            assert (await anonymous.get("/admin/providers")).status_code == 401
