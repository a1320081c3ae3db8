"""Real `switchyard serve` replicas: kill -9 one while it holds money for streams in
flight; the survivors release exactly its holds (once) while their own streams go on and
are billed, and the ledger balances."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.agent.simulated import SimulatedConfig
from switchyard.storage import open_store
from tests.integration.test_sigterm import PRICE, provision
from tests.polling import wait_until

from .replicas import Replica, replica_set

pytestmark = pytest.mark.postgres

SLOW = SimulatedConfig(ttft_s=0.0, tokens_per_s=10.0, output_tokens=200)  # 20 s streams
QUICK = SimulatedConfig(ttft_s=0.0, tokens_per_s=200.0, output_tokens=20)
MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def _recovered(replica: Replica) -> float:
    text = (await replica.admin.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "switchyard_billing_holds_total":
                if sample.labels.get("result") == "recovered":
                    return sample.value
    return 0.0


async def test_a_killed_replicas_holds_are_released_once_while_others_stream(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with replica_set(
        3, nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name
    ) as rs:
        r0, r1, r2 = rs.replicas
        token, key, account_id = await provision(r0.admin, 100_000_000, PRICE)
        agents = {r.replica_id: _agent(r, token, SLOW if r is r1 else QUICK) for r in rs.replicas}
        survivors_done: list[int] = []
        dead_streams: list[str] = []
        async with trio.open_nursery() as nursery:
            for agent in agents.values():
                nursery.start_soon(agent.run)
            with trio.fail_after(20):
                for agent in agents.values():
                    await agent.wait_online()

            async def stream_on_r1() -> None:
                async with openai.AsyncOpenAI(
                    base_url=r1.base_url + "/v1", api_key=key, max_retries=0
                ) as client:
                    try:
                        stream = await client.chat.completions.create(
                            model="sim-small", messages=MESSAGES, stream=True
                        )
                        async for _ in stream:
                            pass
                    except (openai.APIError, openai.APIConnectionError) as exc:
                        dead_streams.append(type(exc).__name__)

            stop = trio.Event()

            async def keep_streaming(replica: Replica) -> None:
                async with openai.AsyncOpenAI(
                    base_url=replica.base_url + "/v1", api_key=key, max_retries=0
                ) as client:
                    while not stop.is_set():
                        stream = await client.chat.completions.create(
                            model="sim-small", messages=MESSAGES, stream=True, max_tokens=20
                        )
                        parts = [c.choices[0].delta.content async for c in stream if c.choices]
                        assert "".join(p or "" for p in parts).strip()
                        survivors_done.append(1)

            async with trio.open_nursery() as requests:
                for _ in range(4):
                    requests.start_soon(stream_on_r1)
                async with open_store(pg_url, schema=pg_schema) as store:

                    async def r1_holds() -> int:
                        holds = await store.list_open_holds()
                        return sum(1 for h in holds if h.replica_id == "r1")

                    await wait_until(lambda: _equals(r1_holds(), 4), timeout=15)
                    for survivor in (r0, r2):
                        requests.start_soon(keep_streaming, survivor)
                    await rs.kill(r1)
                    at_kill = len(survivors_done)

                    async def all_recovered() -> bool:
                        return sum([await _recovered(r) for r in (r0, r2)]) >= 4

                    # released within the lapse (3 s) plus a sweep, while the others stream
                    await wait_until(lambda: _equals(r1_holds(), 0), timeout=15)
                    await wait_until(all_recovered, timeout=15)
                    await wait_until(lambda: len(survivors_done) > at_kill + 10, timeout=15)
                    stop.set()
            assert len(dead_streams) == 4
            recovered = [await _recovered(r) for r in (r0, r2)]
            assert sum(recovered) == 4  # exactly once across the survivors
            for agent in agents.values():
                agent.stop(0.5)
        async with open_store(pg_url, schema=pg_schema) as store:
            await wait_until(lambda: _equals(_open(store), 0), timeout=10)
            assert await store.ledger_mismatches() == []
            usage = await store.recent_usage(account_id, limit=10_000)
            billed = [u for u in usage if u.outcome == "ok" and u.cost_micro_usd > 0]
            assert len(billed) == len(survivors_done)  # every one charged, none released


def _agent(replica: Replica, token: str, sim: SimulatedConfig) -> ProviderAgent:
    config = AgentConfig(
        coordinator=replica.base_url, token=token, models=("sim-small",), slots=8,
        simulated=sim, reconnect_base_s=0.05, reconnect_cap_s=0.5, shutdown_grace_s=0.5,
    )  # fmt: skip
    return ProviderAgent(config, key=Ed25519PrivateKey.generate())


async def _open(store: Any) -> int:
    return len(await store.list_open_holds())


async def _equals(value: Any, expected: int) -> bool:
    return await value == expected
