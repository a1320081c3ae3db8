"""Request bodies over NATS's max_payload cross replicas through the `bodies` object store
(`cluster/crossing_bodies.py`), and are deleted once answered (served or refused); an
owner that cannot find one refuses cleanly. Two replicas in one process on real NATS, a
real scheduler in each, scripted provider actors, the real `RelaySession` on the consumer side;
and two full coordinators with HTTP, an openai-backend agent on one and the official SDK
on the other."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.actors.provider import ProviderUnavailable
from switchyard.actors.provider_messages import StreamChunk
from switchyard.actors.scheduler_messages import ModelsQuery, Release, Reserve
from switchyard.agent.client import ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.cluster.crossing_bodies import BUCKET, object_name
from switchyard.cluster.routing_wire import dump_dispatch, load_answer
from switchyard.cluster.transport import Transport
from switchyard.inference.job import new_job
from switchyard.inference.relay import RelaySession
from switchyard.protocol.limits import CROSSING_BODIES_BYTES, CROSSING_BODY_TTL_S
from switchyard.protocol.vocabulary import Trust
from switchyard.settings import Settings

from ..inference.fakes import done
from ..integration.fake_upstream import FakeUpstream
from ..integration.harness import funded_key
from ..polling import wait_until
from .inproc import local_providers, two_replicas
from .routing_harness import Emit, Replica, replica, stale_dispatch
from .test_routing import until_dispatched, until_idle

IMAGE_URL = "data:image/png;base64," + base64.b64encode(os.urandom(2_300_000)).decode()


def image_messages(text: str = "what is this?") -> list[dict[str, Any]]:
    """One user message with a ~3 MiB image data URL."""
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": IMAGE_URL}}]
    return [{"role": "user", "content": parts}]


@pytest.fixture
async def bodies_bucket(transport: Transport) -> AsyncIterator[None]:
    """The test's bodies bucket is deleted after it (its cluster name is its own)."""
    yield
    with trio.move_on_after(10):
        await transport.delete_object_store(BUCKET)


async def stored_body(transport: Transport, origin: str, request_id: str) -> bytes | None:
    store = await transport.object_store(
        BUCKET, ttl_s=CROSSING_BODY_TTL_S, max_bytes=CROSSING_BODIES_BYTES
    )
    return await store.get(object_name(origin, request_id), max_bytes=16 * 1024 * 1024)


async def relay_to_b(a: Replica, b: Replica, body: dict[str, Any]) -> tuple[RelaySession, str]:
    job = new_job("m", body, Settings(), Trust.SELF_SIGNED)
    relay = RelaySession(a.scheduler, job)
    await relay.start()
    return relay, await until_dispatched(b, "pb")


async def finish(relay: RelaySession, b: Replica, request_id: str) -> str:
    b.providers["pb"].tell(Emit(request_id, [StreamChunk([{"content": "a cat"}], 2)]))
    got: list[Any] = []
    while relay.end is None:
        got.extend(await relay.next_batch())
        if got and relay.end is None:
            b.providers["pb"].tell(Emit(request_id, [done(completion=2)]))
    assert relay.end.ok
    return "".join(d["content"] for c in got if type(c) is StreamChunk for d in c.deltas)


@pytest.mark.usefixtures("bodies_bucket")
async def test_a_body_over_max_payload_crosses_and_is_deleted_after(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    body = {"model": "m", "max_tokens": 8, "messages": image_messages()}
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            await b.add_provider("pb")
            await a.sees(1)
            sent = new_job("m", body, Settings(), Trust.SELF_SIGNED).body_json
            assert len(sent) > transport.max_payload  # it cannot go in one message
            relay, request_id = await relay_to_b(a, b, body)
            assert (await b.provider_state("pb"))["bodies"] == [sent]  # identical
            assert await finish(relay, b, request_id) == "a cat"
            await until_idle(a, b)
            a_stats = a.routing.server.transport.stats
            assert a_stats.objects_put == 1
            assert b.routing.server.counters["bodies_fetched"] == 1

            async def deleted() -> bool:
                return a_stats.objects_deleted == 1

            await wait_until(deleted, timeout=20)
            assert await stored_body(transport, "ra", request_id) is None


async def test_a_small_body_still_goes_in_one_message(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            await b.add_provider("pb")
            await a.sees(1)
            relay, request_id = await relay_to_b(a, b, body)
            assert await finish(relay, b, request_id) == "a cat"
            await until_idle(a, b)
            for r in (a, b):
                stats = r.routing.server.transport.stats
                assert (stats.objects_put, stats.objects_got) == (0, 0)
            assert b.routing.server.counters["served"] == 1
            assert b.routing.server.counters["bodies_fetched"] == 0


@pytest.mark.usefixtures("bodies_bucket")
async def test_a_refused_large_dispatch_deletes_its_body(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    """B's only slot is taken: B refuses before reading the body, A deletes it."""
    body_json = json.dumps({"model": "m", "max_tokens": 8, "messages": image_messages()})
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            await b.add_provider("pb", slots=1)
            await a.sees(1)
            taken, dispatch, _ = await stale_dispatch(a, b, "req_big", body_json)
            with pytest.raises(ProviderUnavailable, match="no free slot"):
                await a.routing.proxy.ask(dispatch, timeout=60)
            a_stats = a.routing.server.transport.stats
            assert a_stats.objects_put == 1
            assert b.routing.server.counters["bodies_fetched"] == 0  # refused first

            async def deleted() -> bool:
                return a_stats.objects_deleted == 1

            await wait_until(deleted, timeout=20)
            assert await stored_body(transport, "ra", "req_big") is None
            b.scheduler.tell(Release(taken.id, "ok"))


@pytest.mark.usefixtures("bodies_bucket")
async def test_an_owner_that_cannot_find_the_body_refuses_cleanly(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            await b.add_provider("pb", slots=1)
            await a.sees(1)
            reserve = Reserve("m", 1, 1, deadline=trio.current_time())
            request = dump_dispatch(
                "req_never_stored", "ra", "pb", "", 4e9, reserve, body_stored=True
            )
            answer = await transport.request(
                transport.subject("route", "rb", "dispatch"), request, timeout=30
            )
            ok, why = load_answer(answer)
            assert not ok and "request body not available" in why
            assert b.routing.server.counters["bodies_missing"] == 1
            await until_idle(b)  # the confirmed slot was released
            assert (await b.provider_state("pb"))["dispatched"] == []


async def test_a_consumer_on_a_sends_a_3_mib_image_to_a_provider_on_b(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    """Full coordinators over HTTP: the official SDK on A, an openai-backend agent on B in
    front of a fake upstream that records what it receives."""
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema) as (a, b),
        trio.open_nursery() as nursery,
    ):
        upstream: FakeUpstream = await nursery.start(FakeUpstream().run)
        _, token = await b.provider_token()
        config = AgentConfig(
            coordinator=b.base_url, token=token, backend="openai", upstream=upstream.url,
            models=("vis",), model_map={"vis": "upstream/model"}, slots=2,
            reconnect_base_s=0.05, reconnect_cap_s=0.5, shutdown_grace_s=1.0,
        )  # fmt: skip
        agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
        nursery.start_soon(agent.run)
        assert a.coord.cluster is not None and b.coord.cluster is not None
        try:

            def online() -> bool:
                states = local_providers(b)
                return len(states) == 1 and all(s["routable"] for s in states)

            await wait_until(online, timeout=20)

            async def seen_on_a() -> bool:
                scheduler = a.coord.system.lookup("/root/scheduler")
                models = await scheduler.ask(ModelsQuery())
                return bool(models.get("vis", {}).get("providers_online", 0) == 1)

            await wait_until(seen_on_a, timeout=20)
            _, key = await funded_key(a)
            async with openai.AsyncOpenAI(
                base_url=a.base_url + "/v1", api_key=key, max_retries=0, timeout=60
            ) as client:
                messages: Any = image_messages("image")
                answer = await client.chat.completions.create(model="vis", messages=messages)
            assert answer.choices[0].message.content  # served
            assert len(upstream.bodies) == 1
            received = upstream.bodies[0]["messages"][0]["content"][1]["image_url"]["url"]
            assert received == IMAGE_URL  # the provider got the identical image
            a_stats = a.coord.cluster.transport.stats
            assert a_stats.objects_put == 1
            assert b.coord.cluster.transport.stats.objects_got == 1

            async def deleted() -> bool:
                return a_stats.objects_deleted == 1

            await wait_until(deleted, timeout=20)
        finally:
            agent.stop(0.5)
            with trio.move_on_after(10):
                await a.coord.cluster.transport.delete_object_store(BUCKET)
            nursery.cancel_scope.cancel()  # the fake upstream
