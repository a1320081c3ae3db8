"""Self-service across replicas (two in-process coordinators on one NATS and one Postgres,
real agents): an owner signed in on A sees, drains, disconnects and revokes a node
connected to B; another account's node is still a 404; `/v1/stats` on A counts B's
providers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import AgentFatalError, ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.cluster.provider_reach import MAX_IDS_PER_CALL
from tests.integration.harness import Running
from tests.integration.selfservice_helpers import signed_up
from tests.polling import wait_until

from .inproc import SIM, local_providers, two_replicas

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def owned_agent(
    running: Running, account_id: str, refused: list[AgentFatalError]
) -> AsyncIterator[ProviderAgent]:
    """A simulated agent owned by `account_id`, connected to `running`, routable there;
    a fatal close (4015) lands in `refused`."""
    body = {"account_id": account_id, "name": "gpu"}
    token = (await running.admin.post("/admin/provider-tokens", json=body)).json()["token"]
    config = AgentConfig(
        coordinator=running.base_url, token=token, models=("sim-small",), slots=2,
        simulated=SIM, reconnect_base_s=0.05, reconnect_cap_s=0.2, shutdown_grace_s=0.5,
    )  # fmt: skip
    agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())

    async def run() -> None:
        try:
            await agent.run()
        except AgentFatalError as exc:
            refused.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await wait_until(lambda: _routable_on(running, agent.provider_id), timeout=15)
        try:
            yield agent
        finally:
            agent.stop(0.5)


def _routable_on(running: Running, provider_id: str) -> bool:
    return any(s["id"] == provider_id and s["routable"] for s in local_providers(running))


def _node(listed: dict[str, Any], provider_id: str) -> dict[str, Any]:
    return next(n for n in listed["nodes"] if n["id"] == provider_id)


async def test_an_owner_on_a_sees_and_commands_a_node_connected_to_b(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema, cookie_secure=False) as (a, b),
        signed_up(a, "owner-ab") as (owner, signed),
        signed_up(a, "stranger-ab") as (stranger, _),
    ):
        refused: list[AgentFatalError] = []
        account_id = signed["account"]["id"]
        async with owned_agent(b, account_id, refused) as agent:
            node_id = agent.provider_id
            assert all(s["id"] != node_id for s in local_providers(a))

            # A shows B's node online with its live state
            node = _node((await owner.get("/v1/account/nodes")).json(), node_id)
            assert node["connected"] is True and node["status"] == "online"
            assert node["routable"] is True and node["trust"]
            assert [m["id"] for m in node["models"]] == ["sim-small"]
            assert node["models"][0]["slots"] == 2 and node["challenges"] is not None

            # the public stats on A count B's provider and its model
            async with httpx.AsyncClient(base_url=a.base_url) as anonymous:
                stats = (await anonymous.get("/v1/stats")).json()
            assert stats["providers_online"] == 1 and "sim-small" in stats["models_online"]
            assert stats["replicas_unanswered"] == []

            # another account's node is a 404 on A, whatever it is asked
            for action in ("drain", "disconnect", "revoke"):
                other = await stranger.post(f"/v1/account/nodes/{node_id}/{action}")
                assert other.status_code == 404, other.text

            # disconnect via A closes the socket on B; the agent reconnects (to B)
            first = agent.registrations
            gone = await owner.post(f"/v1/account/nodes/{node_id}/disconnect")
            assert gone.json() == {"id": node_id, "status": "disconnected"}
            await wait_until(
                lambda: agent.registrations > first and _routable_on(b, node_id), timeout=10
            )

            # drain via A drains it on B
            drained = await owner.post(f"/v1/account/nodes/{node_id}/drain")
            assert drained.json() == {"id": node_id, "status": "draining"}

            def draining_on_b() -> bool:
                states = [s for s in local_providers(b) if s["id"] == node_id]
                return not states or states[0]["status"] in ("draining", "offline")

            await wait_until(draining_on_b, timeout=5)
            assert not refused


async def test_revoking_via_a_closes_the_nodes_connection_on_b_with_4015(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema, cookie_secure=False) as (a, b),
        signed_up(a, "owner-revoke") as (owner, signed),
    ):
        account_id = signed["account"]["id"]
        by_node: list[AgentFatalError] = []
        by_token: list[AgentFatalError] = []
        async with (
            owned_agent(b, account_id, by_node) as first,
            owned_agent(b, account_id, by_token) as second,
        ):
            # the node's own revoke (its token found from B's live state)
            revoked = (await owner.post(f"/v1/account/nodes/{first.provider_id}/revoke")).json()
            assert revoked["revoked"] is True and revoked["disconnected"] == [first.provider_id]
            assert revoked["replicas_unanswered"] == []
            await wait_until(lambda: bool(by_node), timeout=5)
            assert "4015" in str(by_node[0])

            # revoking one of the account's provider tokens on A closes its holder on B
            tokens = (await owner.get("/v1/account/provider-tokens")).json()["provider_tokens"]
            live = [t for t in tokens if not t["revoked"]]
            assert len(live) == 1
            deleted = await owner.delete(f"/v1/account/provider-tokens/{live[0]['id']}")
            assert deleted.json()["disconnected"] == [second.provider_id]
            await wait_until(lambda: bool(by_token), timeout=5)
            assert "4015" in str(by_token[0])
            await wait_until(lambda: not local_providers(b), timeout=5)

            # no longer connected anywhere: a revoke of the node is a 409, not a 500
            again = await owner.post(f"/v1/account/nodes/{first.provider_id}/revoke")
            assert again.status_code == 409
            node = _node((await owner.get("/v1/account/nodes")).json(), first.provider_id)
            assert node["connected"] is False and node["status"] == "offline"


async def test_a_silent_replica_is_named_and_its_nodes_show_offline(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema, cookie_secure=False) as (a, b),
        signed_up(a, "owner-silent") as (owner, signed),
    ):
        refused: list[AgentFatalError] = []
        async with owned_agent(b, signed["account"]["id"], refused) as agent:
            assert b.coord.state is not None
            b.coord.state.calls.handlers.clear()  # B answers every call with an error now
            with trio.fail_after(5):
                node = _node((await owner.get("/v1/account/nodes")).json(), agent.provider_id)
                assert node["connected"] is False and node["status"] == "offline"
                drained = await owner.post(f"/v1/account/nodes/{agent.provider_id}/drain")
                assert drained.status_code == 409 and "beta" in drained.json()["error"]["message"]
                async with httpx.AsyncClient(base_url=a.base_url) as anonymous:
                    stats = (await anonymous.get("/v1/stats")).json()
            assert stats["providers_online"] == 0 and stats["replicas_unanswered"] == ["beta"]
            assert _routable_on(b, agent.provider_id) and not refused


async def test_provider_states_calls_with_bad_arguments_are_answered_with_an_error(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with two_replicas(nats_url, cluster_name, pg_url, pg_schema) as (a, b):
        assert b.coord.state is not None
        transport = b.coord.state.calls.transport
        subject = transport.subject("replica", "alpha", "call")

        async def call(args: Any) -> dict[str, Any]:
            body = json.dumps({"op": "provider_states", "args": args}).encode()
            answer: dict[str, Any] = json.loads(await transport.request(subject, body, timeout=10))
            return answer

        too_many = [f"p{i}" for i in range(MAX_IDS_PER_CALL + 1)]
        for bad in ({}, {"provider_ids": "prov-1"}, {"provider_ids": too_many}):
            assert "error" in await call(bad)
        assert await call({"provider_ids": ["prov-nowhere"]}) == {"states": []}
        assert a.coord.state is not None and a.coord.state.calls.served >= 4
