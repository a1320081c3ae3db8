"""The coordinator restarting: agents reconnect, open holds are released at start-up."""

from __future__ import annotations

import socket
from dataclasses import replace

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.coordinator import open_coordinator
from switchyard.launch import running_coordinator
from switchyard.storage import open_store

from ..polling import wait_until
from .harness import fast_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_agent_reconnects_after_the_coordinator_restarts() -> None:
    settings = replace(fast_settings(), port=_free_port(), shutdown_grace_s=1.0)
    async with open_store(None) as store:
        owner = await store.create_account("owner")
        _, token = await store.create_provider_token(owner.id, "agent")
        config = AgentConfig(
            coordinator=f"http://127.0.0.1:{settings.port}", token=token,
            models=("sim-small",), reconnect_base_s=0.05, reconnect_cap_s=0.2,
        )  # fmt: skip
        agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
        async with trio.open_nursery() as nursery:
            for generation in (1, 2):
                async with running_coordinator(settings, store) as (coord, _):

                    async def online(coord=coord) -> bool:  # type: ignore[no-untyped-def]
                        states = coord.system.children_states("/root/providers")
                        # A child still starting describes no state yet (no "status").
                        return [s.get("status") for s in states] == ["online"]

                    if generation == 1:
                        nursery.start_soon(agent.run)
                    await wait_until(online, timeout=10)
                    assert agent.registrations == generation
            agent.stop(0.1)


async def test_holds_left_open_by_a_crash_are_released_at_start_up() -> None:
    async with open_store(None) as store:
        account = await store.create_account("crashed")
        await store.credit(account.id, 1_000, kind="adjustment", reason="test")
        await store.create_hold(account.id, "bill_orphan", 600)
        assert (await store.get_account(account.id)).balance_micro_usd == 400
        async with open_coordinator(fast_settings(), store):
            assert await store.list_open_holds() == []
            assert (await store.get_account(account.id)).balance_micro_usd == 1_000
            assert await store.ledger_mismatches() == []
