"""Cross-replica routing in one process: two replicas on real NATS, a real scheduler in
each, scripted provider actors; the consumer side is the real `RelaySession`."""

from __future__ import annotations

import pytest
import trio

from switchyard.actors.provider import ProviderUnavailable
from switchyard.actors.provider_messages import StreamChunk, StreamEnd
from switchyard.actors.scheduler_messages import (
    ModelCapacity,
    ModelsQuery,
    Release,
    Reservation,
    Reserve,
)
from switchyard.actors.scheduler_remote import OfferedModel, OfferedProvider
from switchyard.cluster.routing_wire import dump_snapshot, load_answer
from switchyard.cluster.transport import Transport
from switchyard.inference.job import Job, new_job
from switchyard.inference.relay import RelaySession
from switchyard.protocol.errors import ApiError
from switchyard.protocol.vocabulary import RequestKind, StreamErrorCode, Trust
from switchyard.settings import Settings

from ..inference.fakes import chunk, done, job
from ..polling import wait_until
from .routing_harness import Emit, Replica, replica, stale_dispatch


async def until_dispatched(r: Replica, provider_id: str, n: int = 1) -> str:
    async def dispatched() -> bool:
        return len((await r.provider_state(provider_id))["dispatched"]) >= n

    await wait_until(dispatched, timeout=10)
    return (await r.provider_state(provider_id))["dispatched"][n - 1]


async def stream_from_b(
    a: Replica, b: Replica, wire_job: Job | None = None
) -> tuple[RelaySession, str]:
    """A relay on A dispatched to B's provider `pb` (added here); its request id on B."""
    await b.add_provider("pb")
    await a.sees(1)
    relay = RelaySession(a.scheduler, wire_job or job())
    await relay.start()
    return relay, await until_dispatched(b, "pb")


async def until_idle(*replicas: Replica) -> None:
    """Every scheduler holds no reservation."""
    for r in replicas:

        async def idle(r: Replica = r) -> bool:
            return (await r.stats())["reserved_total"] == 0

        await wait_until(idle, timeout=10)


async def test_a_request_on_a_streams_from_a_provider_on_b(
    nats_url: str, cluster_name: str
) -> None:
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            relay, request_id = await stream_from_b(a, b)
            assert relay.provider_id == "pb"
            b.providers["pb"].tell(Emit(request_id, [chunk("Hel", "lo"), chunk(" there")]))
            got: list[StreamChunk | StreamEnd] = []
            while relay.end is None:
                got.extend(await relay.next_batch())
                if len(got) == 2:
                    b.providers["pb"].tell(Emit(request_id, [done(completion=3)]))
            text = "".join(d["content"] for c in got if type(c) is StreamChunk for d in c.deltas)
            assert text == "Hello there"
            assert relay.relayed_tokens == 3
            assert relay.end.ok and relay.end.completion_tokens == 3
            await until_idle(a, b)
            assert (await b.stats())["counters"]["confirmed"] == 1
            assert b.routing.server.counters["served"] == 1
            assert b.routing.server.active == {}


async def test_a_request_keeps_its_kind_across_replicas(nats_url: str, cluster_name: str) -> None:
    """A native completion dispatched to another replica reaches its provider as one (the
    owner's agent sends it to the upstream's /v1/completions, not as a chat)."""
    completion = {"model": "m", "prompt": "def f(", "suffix": "return 1", "max_tokens": 8}
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            wire_job = new_job(
                "m", completion, Settings(), Trust.SELF_SIGNED, kind=RequestKind.COMPLETION
            )
            relay, request_id = await stream_from_b(a, b, wire_job)
            assert (await b.provider_state("pb"))["kinds"] == [RequestKind.COMPLETION]
            b.providers["pb"].tell(Emit(request_id, [done(completion=1)]))
            while relay.end is None:
                await relay.next_batch()
            await until_idle(a, b)


async def test_a_same_replica_request_takes_no_nats_hop(nats_url: str, cluster_name: str) -> None:
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            await a.add_provider("pa")
            await b.sees(1)  # the cluster is up: A's provider is visible on B
            grant = await a.scheduler.ask(Reserve("m", 1, 1, deadline=trio.current_time()))
            assert isinstance(grant, Reservation)
            assert grant.replica is None and grant.provider_ref == a.providers["pa"]
            a.scheduler.tell(Release(grant.id, "ok"))
            relay = RelaySession(a.scheduler, job())
            await relay.start()
            request_id = await until_dispatched(a, "pa")
            a.providers["pa"].tell(Emit(request_id, [chunk("hi"), done()]))
            while relay.end is None:
                await relay.next_batch()
            assert relay.end.ok
            assert b.routing.server.counters["served"] == 0
            assert b.routing.server.counters["batches"] == 0


async def test_the_consumer_leaving_cancels_at_the_owner(nats_url: str, cluster_name: str) -> None:
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            relay, request_id = await stream_from_b(a, b)
            b.providers["pb"].tell(Emit(request_id, [chunk("one")]))
            await relay.next_batch()
            await relay.close(failed=False)

            async def cancelled() -> bool:
                return request_id in (await b.provider_state("pb"))["cancelled"]

            await wait_until(cancelled, timeout=10)
            await until_idle(a, b)


async def test_a_refused_confirmation_is_provider_unavailable(
    nats_url: str, cluster_name: str
) -> None:
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            await b.add_provider("pb", slots=1)
            await a.sees(1)
            # A dispatches on a view that still shows B's only slot free: B refuses.
            taken, dispatch, receive = await stale_dispatch(a, b, "req_x", "{}")
            with pytest.raises(ProviderUnavailable, match="no free slot"):
                await a.routing.proxy.ask(dispatch, timeout=10)
            assert (await b.stats())["counters"]["confirm_refused"] == 1
            assert (await b.provider_state("pb"))["dispatched"] == []
            with pytest.raises(trio.EndOfChannel):  # nothing ran: the stream is closed
                receive.receive_nowait()
            b.scheduler.tell(Release(taken.id, "ok"))


async def test_the_owner_dying_mid_stream_ends_it_with_an_error(
    nats_url: str, cluster_name: str
) -> None:
    async with trio.open_nursery() as nursery:
        async with replica(nursery, nats_url, cluster_name, "ra", lapse_s=1.0) as a:
            async with replica(nursery, nats_url, cluster_name, "rb", lapse_s=1.0) as b:
                relay, request_id = await stream_from_b(a, b)
                b.providers["pb"].tell(Emit(request_id, [chunk("partial")]))
                first = await relay.next_batch()
                assert type(first[0]) is StreamChunk
                b.kill()
            batch = await relay.next_batch()
            end = batch[-1]
            assert type(end) is StreamEnd
            assert end.error_code == StreamErrorCode.PROVIDER_GONE
            assert not end.retryable
            await a.sees(0)
            await until_idle(a)


async def test_the_owner_dying_before_the_first_token_retries_elsewhere(
    nats_url: str, cluster_name: str
) -> None:
    async with trio.open_nursery() as nursery:
        async with replica(nursery, nats_url, cluster_name, "ra", lapse_s=1.0) as a:
            await a.add_provider("pa", trust=Trust.SELF_SIGNED)
            async with replica(nursery, nats_url, cluster_name, "rb", lapse_s=1.0) as b:
                await b.add_provider("pb", trust=Trust.HARDWARE)  # cheaper: chosen first
                await a.sees(2)
                relay = RelaySession(a.scheduler, job())
                await relay.start()
                assert relay.provider_id == "pb"
                await until_dispatched(b, "pb")
                b.kill()
            with trio.fail_after(10):
                async with trio.open_nursery() as inner:
                    inner.start_soon(relay.next_batch)
                    request_id = await until_dispatched(a, "pa")
                    a.providers["pa"].tell(Emit(request_id, [chunk("served"), done()]))
            assert relay.provider_id == "pa"
            assert relay.attempts == 2
            while relay.end is None:
                await relay.next_batch()
            assert relay.end.ok


async def test_nothing_to_route_to_is_still_a_clean_refusal(
    nats_url: str, cluster_name: str
) -> None:
    async with trio.open_nursery() as nursery:
        async with replica(nursery, nats_url, cluster_name, "ra") as a:
            relay = RelaySession(a.scheduler, job())
            with pytest.raises(ApiError) as refused:
                await relay.start()
            assert refused.value.status == 404


async def test_the_owner_stopping_cleanly_ends_its_streams_at_once(
    nats_url: str, cluster_name: str
) -> None:
    async with trio.open_nursery() as nursery:
        async with replica(nursery, nats_url, cluster_name, "ra", lapse_s=60.0) as a:
            async with replica(nursery, nats_url, cluster_name, "rb", lapse_s=60.0) as b:
                relay, request_id = await stream_from_b(a, b)
                b.providers["pb"].tell(Emit(request_id, [chunk("partial")]))
                await relay.next_batch()
            with trio.fail_after(10):  # long before any lapse (60 s here)
                batch = await relay.next_batch()
            end = batch[-1]
            assert type(end) is StreamEnd
            assert end.error_code == StreamErrorCode.PROVIDER_GONE
            assert "rb stopped" in end.error_message
            await a.sees(0)  # its last snapshot listed nothing
            await until_idle(a)


async def test_malformed_messages_are_refused_not_crashes(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    async with trio.open_nursery() as nursery:
        async with (
            replica(nursery, nats_url, cluster_name, "ra") as a,
            replica(nursery, nats_url, cluster_name, "rb") as b,
        ):
            await b.add_provider("pb")
            await a.sees(1)
            answer = await transport.request(
                transport.subject("route", "rb", "dispatch"), b"junk", timeout=5
            )
            ok, why = load_answer(answer)
            assert not ok and why.startswith("bad dispatch request")
            transport.publish(transport.subject("capacity", "rx"), b'{"replica": 1}')
            transport.publish(transport.subject("route", "rb", "cancel"), b"[]")

            async def counted() -> bool:
                return a.routing.mirror.rejected == 1 and b.routing.server.counters["bad"] == 2

            await wait_until(counted, timeout=10)

            relay = RelaySession(a.scheduler, job())
            await relay.start()
            request_id = await until_dispatched(b, "pb")
            transport.publish(transport.subject("stream", "ra", request_id), b"\xff garbage")
            with pytest.raises(ApiError) as failed:  # nothing relayed, no other provider
                await relay.next_batch()
            assert failed.value.status == 502

            async def cancelled() -> bool:
                return request_id in (await b.provider_state("pb"))["cancelled"]

            await wait_until(cancelled, timeout=10)
            await until_idle(a, b)
            assert a.routing.proxy.alive and (await b.stats())["reserved_total"] == 0


async def test_a_restarted_or_silent_replica_is_dropped(
    nats_url: str, cluster_name: str, transport: Transport
) -> None:
    model = OfferedModel(ModelCapacity(2), in_use=0, by_origin={})
    offered = [OfferedProvider("px", Trust.SELF_SIGNED, True, {"m": model})]
    subject = transport.subject("capacity", "rx")
    seqs = iter(range(10, 1_000_000))
    async with trio.open_nursery() as nursery:
        async with replica(nursery, nats_url, cluster_name, "ra", lapse_s=1.0) as a:

            async def announced(epoch: str, lapsed: int) -> bool:
                """Replica rx stays alive (a snapshot per poll, so a stalled machine cannot
                make it lapse) until `a` offers its provider with `lapsed` lapses seen."""
                transport.publish(subject, dump_snapshot("rx", epoch, next(seqs), offered))
                models = await a.scheduler.ask(ModelsQuery())
                online = models.get("m", {}).get("providers_online", 0)
                return online == 1 and a.routing.mirror.lapsed == lapsed

            await wait_until(lambda: announced("epoch1", 0), timeout=10)
            transport.publish(subject, dump_snapshot("rx", "epoch1", 4, []))  # stale: ignored
            await wait_until(lambda: announced("epoch2", 1), timeout=10)  # restarted
            await wait_until(lambda: a.routing.mirror.lapsed == 2, timeout=10)  # then silent
            await a.sees(0)
            assert a.routing.mirror.live() == []


async def test_a_live_replica_with_unchanging_capacity_never_lapses(
    nats_url: str, cluster_name: str
) -> None:
    async with trio.open_nursery() as nursery:
        async with replica(nursery, nats_url, cluster_name, "ra", lapse_s=1.0) as a:
            async with replica(nursery, nats_url, cluster_name, "rb", lapse_s=1.0) as b:
                await b.add_provider("pb")
                await a.sees(1)
                await trio.sleep(2.5)  # nothing changes: only the periodic full snapshots
                assert a.routing.mirror.lapsed == 0
                await a.sees(1)
