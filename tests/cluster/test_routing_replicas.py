"""Cross-replica routing between real `switchyard serve` processes (one NATS, one
Postgres schema): a consumer on one replica streams from a provider on another through
both SDKs and is billed once; a replica killed mid-stream fails only its own streams,
its provider fails over, and no hold stays open; a replica killed before the first
token has the request retried elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.agent.simulated import SimulatedConfig, simulated_text
from switchyard.storage.factory import open_store
from tests.integration.test_sigterm import PRICE, provision
from tests.polling import wait_until

from .replicas import Replica, replica_set

pytestmark = pytest.mark.postgres

MESSAGES = [{"role": "user", "content": "hello there"}]
CREDIT = 10_000_000


def _find(node: dict[str, Any], path: str) -> dict[str, Any] | None:
    if node["path"] == path:
        return node
    for child in node["children"]:
        if (found := _find(child, path)) is not None:
            return found
    return None


async def scheduler_state(replica: Replica) -> dict[str, Any]:
    """The scheduler's `describe()` and reserved slots, from `/admin/supervisor`."""
    body = (await replica.admin.get("/admin/supervisor")).json()
    node = _find(body["tree"], "/root/scheduler")
    assert node is not None
    return {**node["state"], "reserved": body["totals"]["reserved_slots"]}


async def until_providers_indexed(replica: Replica, n: int) -> None:
    async def indexed() -> bool:
        return (await scheduler_state(replica))["providers_indexed"] == n

    await wait_until(indexed, timeout=20, interval=0.1)


async def served_remotely(replica: Replica) -> int:
    routing = (await replica.cluster())["routing"]
    return int(routing["server"]["served"])


@asynccontextmanager
async def running_agent(
    nursery: trio.Nursery, coordinators: str, token: str, sim: SimulatedConfig, slots: int = 4
) -> AsyncIterator[ProviderAgent]:
    config = AgentConfig(
        coordinator=coordinators, token=token, models=("sim-small",), slots=slots,
        simulated=sim, reconnect_base_s=0.1, reconnect_cap_s=0.5,
    )  # fmt: skip
    agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
    nursery.start_soon(agent.run)
    with trio.fail_after(20):
        await agent.wait_online()
    try:
        yield agent
    finally:
        agent.stop(0.5)


async def money_is_settled(pg_url: str, pg_schema: str) -> None:
    """No open hold, and every account's balance matches its ledger."""
    async with open_store(pg_url, schema=pg_schema) as store:

        async def no_holds() -> bool:
            return await store.list_open_holds() == []

        await wait_until(no_holds, timeout=20, interval=0.2)
        assert await store.ledger_mismatches() == []


async def openai_stream(client: openai.AsyncOpenAI) -> tuple[str, Any]:
    stream = await client.chat.completions.create(
        model="sim-small", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    return text, usage


async def test_a_consumer_on_r0_streams_from_a_provider_on_r1_and_is_billed_once(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    sim = SimulatedConfig(ttft_s=0.0, tokens_per_s=2000.0, output_tokens=12)
    async with (
        replica_set(
            2, nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name
        ) as rs,
        trio.open_nursery() as nursery,
    ):
        r0, r1 = rs.replicas
        token, key, account_id = await provision(r0.admin, CREDIT, PRICE)
        async with running_agent(nursery, r1.base_url, token, sim):
            await until_providers_indexed(r0, 1)
            assert (await scheduler_state(r0))["providers_indexed"] == 1
            async with openai.AsyncOpenAI(
                base_url=r0.base_url + "/v1", api_key=key, max_retries=0
            ) as oai:
                text, usage = await openai_stream(oai)
            assert text == simulated_text(12)
            assert usage is not None and usage.completion_tokens == 12
            charged = usage.prompt_tokens + usage.completion_tokens

            async with anthropic.AsyncAnthropic(
                base_url=r0.base_url, api_key=key, max_retries=0
            ) as claude:
                async with claude.messages.stream(
                    model="sim-small", max_tokens=100, messages=MESSAGES
                ) as stream:
                    parts = [t async for t in stream.text_stream]
                    final = await stream.get_final_message()
            assert "".join(parts) == simulated_text(12)
            assert final.usage.output_tokens == 12
            charged += final.usage.input_tokens + final.usage.output_tokens

            assert await served_remotely(r1) == 2  # both crossed to r1
            await money_is_settled(pg_url, pg_schema)
            account = (await r0.admin.get(f"/admin/accounts/{account_id}")).json()
            assert account["balance_micro_usd"] == CREDIT - charged  # billed once each
            assert (await scheduler_state(r0))["reserved"] == 0
            assert (await scheduler_state(r1))["reserved"] == 0


async def test_kill_9_of_the_owner_mid_stream_fails_only_its_streams(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    slow = SimulatedConfig(ttft_s=0.0, tokens_per_s=20.0, output_tokens=80)  # ~4 s
    async with (
        replica_set(
            3, nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name
        ) as rs,
        trio.open_nursery() as nursery,
    ):
        r0, r1, r2 = rs.replicas
        token, key, _ = await provision(r0.admin, CREDIT, PRICE)
        failover = f"{r1.base_url},{r2.base_url}"
        async with (
            running_agent(nursery, failover, token, slow, slots=1) as on_r1,
            running_agent(nursery, r2.base_url, token, slow, slots=1) as on_r2,
        ):
            await until_providers_indexed(r0, 2)
            outcomes: dict[str, list[str]] = {"complete": [], "error": []}
            first_tokens = trio.Semaphore(0)

            async def consume(client: openai.AsyncOpenAI) -> None:
                stream = await client.chat.completions.create(
                    model="sim-small", messages=MESSAGES, stream=True
                )
                text = ""
                try:
                    async for chunk in stream:
                        if chunk.choices and chunk.choices[0].delta.content:
                            if not text:
                                first_tokens.release()
                            text += chunk.choices[0].delta.content
                except openai.APIError as exc:
                    outcomes["error"].append(str(exc))
                    return
                assert text == simulated_text(80)
                outcomes["complete"].append(text)

            async with openai.AsyncOpenAI(
                base_url=r0.base_url + "/v1", api_key=key, max_retries=0, timeout=60
            ) as client:
                with trio.fail_after(60):
                    async with trio.open_nursery() as streams:
                        streams.start_soon(consume, client)
                        streams.start_soon(consume, client)
                        await first_tokens.acquire()
                        await first_tokens.acquire()  # both streaming, one through r1
                        await rs.kill(r1)
                assert len(outcomes["complete"]) == 1  # the stream through r2 is unaffected
                assert len(outcomes["error"]) == 1  # the one through r1: a clean error event

                # r1's provider fails over to r2 and serves r0's consumers again.
                async def both_on_r2() -> bool:
                    providers = (await r2.admin.get("/admin/providers")).json()["providers"]
                    return {p["id"] for p in providers} == {on_r1.provider_id, on_r2.provider_id}

                await wait_until(both_on_r2, timeout=20, interval=0.1)
                await until_providers_indexed(r0, 2)
                text, _ = await openai_stream(client)
                assert text == simulated_text(80)
            await money_is_settled(pg_url, pg_schema)
            assert (await scheduler_state(r0))["reserved"] == 0
            assert (await scheduler_state(r2))["reserved"] == 0


async def test_kill_9_before_the_first_token_is_retried_elsewhere(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    stalled = SimulatedConfig(ttft_s=30.0, tokens_per_s=1000.0, output_tokens=10)
    quick = SimulatedConfig(ttft_s=0.0, tokens_per_s=1000.0, output_tokens=10)
    async with (
        replica_set(
            3, nats_url=nats_url, pg_url=pg_url, pg_schema=pg_schema, cluster=cluster_name
        ) as rs,
        trio.open_nursery() as nursery,
    ):
        r0, r1, r2 = rs.replicas
        token, key, account_id = await provision(r0.admin, CREDIT, PRICE)
        async with running_agent(nursery, r1.base_url, token, stalled):
            await until_providers_indexed(r0, 1)
            result: list[str] = []
            done = trio.Event()
            async with (
                openai.AsyncOpenAI(
                    base_url=r0.base_url + "/v1", api_key=key, max_retries=0, timeout=60
                ) as client,
                trio.open_nursery() as consumer,
            ):

                async def consume() -> None:
                    try:
                        result.append((await openai_stream(client))[0])
                    finally:
                        done.set()

                consumer.start_soon(consume)
                await wait_until(lambda: served_remotely(r1), timeout=20, interval=0.05)
                async with running_agent(nursery, r2.base_url, token, quick):
                    await until_providers_indexed(r0, 2)
                    await rs.kill(r1)  # the request is on r1's provider, no token yet
                    with trio.fail_after(30):
                        await done.wait()
            assert result == [simulated_text(10)]
        await money_is_settled(pg_url, pg_schema)
        account = (await r0.admin.get(f"/admin/accounts/{account_id}")).json()
        assert account["balance_micro_usd"] < CREDIT  # charged for the served attempt only
        async with httpx.AsyncClient(base_url=r2.base_url) as plain:
            assert (await plain.get("/healthz")).status_code == 200
