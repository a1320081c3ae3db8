"""The NATS transport against the real server: publish/subscribe, queue groups,
request/reply, timeouts, no responders, KV compare-and-set, object stores, status, and
shedding."""

from __future__ import annotations

import contextlib

import pytest
import trio

from switchyard.cluster.errors import (
    KeyValueConflict,
    MessageTooLarge,
    ObjectTooLarge,
    TransportError,
    TransportTimeout,
    TransportUnavailable,
)
from switchyard.cluster.transport import KeyValue, Message, ObjectStore, Transport, redact
from switchyard.cluster.transport_open import open_transport
from tests.polling import wait_until

from .nats_proxy import nats_proxy


async def _collect(channel: trio.MemoryReceiveChannel[Message], n: int) -> list[Message]:
    got = []
    with trio.fail_after(15):
        for _ in range(n):
            got.append(await channel.receive())
    return got


async def test_publish_reaches_a_subscriber_on_another_connection(
    transport: Transport, nats_url: str, cluster_name: str
) -> None:
    subject = transport.subject("greetings", "x")
    assert subject == f"{cluster_name}.greetings.x"
    async with (
        open_transport(nats_url, cluster=cluster_name, name="other") as other,
        transport.subscribe(transport.subject("greetings", "*")) as inbox,
    ):
        for i in range(500):
            other.publish(subject, f"hello {i}".encode())
        got = await _collect(inbox, 500)
    assert [m.data for m in got] == [f"hello {i}".encode() for i in range(500)]
    assert got[0].subject == subject and got[0].reply is None
    assert other.stats.published == 500 and other.stats.publish_shed == 0


async def test_clusters_do_not_see_each_other(transport: Transport, nats_url: str) -> None:
    async with (
        open_transport(nats_url, cluster=transport.cluster + "b", name="b") as other,
        transport.subscribe(transport.subject("news")) as mine,
    ):
        other.publish(other.subject("news"), b"not for you")
        await other.flush()
        transport.publish(transport.subject("news"), b"for you")
        (only,) = await _collect(mine, 1)
        assert only.data == b"for you"
        await transport.flush()
        await trio.sleep(0.05)
        with pytest.raises(trio.WouldBlock):
            mine.receive_nowait()


async def test_queue_group_delivers_each_message_once(transport: Transport) -> None:
    subject = transport.subject("work")
    async with (
        transport.subscribe(subject, queue="workers") as a,
        transport.subscribe(subject, queue="workers") as b,
    ):
        for i in range(200):
            transport.publish(subject, str(i).encode())
        await transport.flush()
        await wait_until(lambda: transport.stats.received == 200)
        seen = []
        for channel in (a, b):
            while True:
                try:
                    seen.append(int(channel.receive_nowait().data))
                except trio.WouldBlock:
                    break
    assert sorted(seen) == list(range(200))


async def _echo(transport: Transport, subject: str, task_status: trio.TaskStatus[None]) -> None:
    async with transport.subscribe(subject) as requests:
        task_status.started()
        async for message in requests:
            transport.reply(message, b"echo:" + message.data)


async def test_request_gets_the_reply(
    transport: Transport, nats_url: str, cluster_name: str
) -> None:
    subject = transport.subject("echo")
    async with (
        open_transport(nats_url, cluster=cluster_name, name="server") as server,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(_echo, server, subject)
        answers = []

        async def ask(i: int) -> None:
            answers.append(await transport.request(subject, str(i).encode(), timeout=5))

        async with trio.open_nursery() as asks:
            for i in range(100):
                asks.start_soon(ask, i)
        nursery.cancel_scope.cancel()
    assert sorted(answers) == sorted(f"echo:{i}".encode() for i in range(100))
    assert transport.stats.requests == 100


async def test_request_without_responders_is_unavailable_at_once(transport: Transport) -> None:
    with trio.fail_after(10):  # the server says "no responders"; we do not wait 30 s
        with pytest.raises(TransportUnavailable, match="no responders"):
            await transport.request(transport.subject("nobody"), b"?", timeout=30)
    assert transport.stats.no_responders == 1


async def test_request_to_a_silent_responder_times_out(transport: Transport) -> None:
    subject = transport.subject("silent")
    async with transport.subscribe(subject) as requests:
        with pytest.raises(TransportTimeout):
            await transport.request(subject, b"hello?", timeout=0.3)
        (received,) = await _collect(requests, 1)
    assert received.reply is not None
    transport.reply(received, b"too late")  # a late answer is dropped, not delivered
    await transport.flush()
    assert transport.stats.request_timeouts == 1


async def test_key_value_compare_and_set(transport: Transport) -> None:
    kv = await transport.key_value("cas")
    try:
        assert await kv.get("k") is None
        first = await kv.create("k", b"one")
        with pytest.raises(KeyValueConflict):
            await kv.create("k", b"again")
        entry = await kv.get("k")
        assert entry is not None and entry.value == b"one" and entry.revision == first
        second = await kv.update("k", b"two", first)
        with pytest.raises(KeyValueConflict):
            await kv.update("k", b"stale", first)
        entry = await kv.get("k")
        assert entry is not None and (entry.value, entry.revision) == (b"two", second)
        await kv.put("k", b"three")
        await kv.delete("k")
        assert await kv.get("k") is None
        assert await kv.create("k", b"reborn") > second  # create works after a delete
        with pytest.raises(ValueError):
            await kv.get("bad key")
    finally:
        await transport.delete_key_value("cas")


async def test_key_value_ttl_expires_values(transport: Transport) -> None:
    kv = await transport.key_value("short", ttl_s=1.0)
    try:
        await kv.put("k", b"soon gone")
        assert await kv.get("k") is not None
        await wait_until(lambda: _absent(kv, "k"), timeout=10, interval=0.2)
    finally:
        await transport.delete_key_value("short")


async def _absent(kv: KeyValue, key: str) -> bool:
    return await kv.get(key) is None


async def test_object_store_put_get_delete_and_bounds(transport: Transport) -> None:
    big = bytes(range(256)) * 12_288  # 3 MiB: many chunks, over max_payload
    store = await transport.object_store("objs", ttl_s=60, max_bytes=4 * 1024 * 1024)
    try:
        await store.put("a.b", big)
        assert await store.get("a.b", max_bytes=len(big)) == big
        with pytest.raises(ObjectTooLarge):
            await store.get("a.b", max_bytes=len(big) - 1)
        with pytest.raises(TransportError):  # the bucket is bounded: refused, not stored
            await store.put("c", big)
        assert await store.get("c", max_bytes=len(big)) is None
        await store.delete("a.b")
        assert await store.get("a.b", max_bytes=len(big)) is None
        await store.delete("a.b")  # absent is fine
        assert await store.get("never", max_bytes=1) is None
        stats = transport.stats
        assert (stats.objects_put, stats.objects_got, stats.objects_deleted) == (1, 1, 1)
    finally:
        await transport.delete_object_store("objs")
    await transport.delete_object_store("objs")  # missing is fine


async def test_a_get_cut_short_leaves_no_subscription_behind(transport: Transport) -> None:
    big = bytes(range(256)) * 16_384  # 4 MiB: 32 chunks
    store = await transport.object_store("cutobjs", ttl_s=60, max_bytes=8 * 1024 * 1024)
    try:
        await store.put("k", big)
        baseline = len(transport._nc._subs)
        for timeout in (0.001, 0.005, 0.02, 0.05, 0.1):  # cut at different points of the read
            with contextlib.suppress(TransportError):
                await store.get("k", max_bytes=len(big), timeout=timeout)
            await wait_until(lambda: len(transport._nc._subs) == baseline, timeout=10)
        assert await store.get("k", max_bytes=len(big)) == big
        assert len(transport._nc._subs) == baseline
    finally:
        await transport.delete_object_store("cutobjs")


async def test_object_store_ttl_expires_objects(transport: Transport) -> None:
    store = await transport.object_store("shortobjs", ttl_s=1.0, max_bytes=1024 * 1024)
    try:
        await store.put("k", b"soon gone")
        assert await store.get("k", max_bytes=100) == b"soon gone"
        await wait_until(lambda: _object_absent(store, "k"), timeout=15, interval=0.2)
    finally:
        await transport.delete_object_store("shortobjs")


async def _object_absent(store: ObjectStore, name: str) -> bool:
    return await store.get(name, max_bytes=100) is None


async def test_disconnect_is_observed_and_recovered(nats_url: str, cluster_name: str) -> None:
    async with (
        nats_proxy(nats_url) as proxy,
        open_transport(proxy.url, cluster=cluster_name, name="flaky") as flaky,
        open_transport(nats_url, cluster=cluster_name, name="steady") as steady,
        steady.subscribe(steady.subject("ping")) as pings,
    ):
        assert flaky.connected
        changed = flaky.status_changed()
        proxy.cut()
        with trio.fail_after(5):
            await changed.wait()
        assert not flaky.connected and flaky.stats.disconnects == 1
        flaky.publish(flaky.subject("ping"), b"lost")
        assert flaky.stats.publish_shed == 1
        with pytest.raises(TransportUnavailable):
            await flaky.request(flaky.subject("ping"), b"?", timeout=1)
        with pytest.raises(TransportUnavailable):
            await flaky.key_value("any")
        proxy.restore()
        with trio.fail_after(10):
            await flaky.wait_connected()
        assert flaky.stats.reconnects == 1
        flaky.publish(flaky.subject("ping"), b"back")
        (got,) = await _collect(pings, 1)
        assert got.data == b"back"


async def test_pending_request_fails_when_the_connection_drops(
    nats_url: str, cluster_name: str
) -> None:
    async with (
        nats_proxy(nats_url) as proxy,
        open_transport(proxy.url, cluster=cluster_name, name="flaky") as flaky,
        flaky.subscribe(flaky.subject("slow")) as requests,
    ):
        outcome: list[BaseException] = []

        async def ask() -> None:
            try:
                await flaky.request(flaky.subject("slow"), b"?", timeout=30)
            except TransportUnavailable as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await _collect(requests, 1)
            proxy.cut()
        assert len(outcome) == 1


async def test_a_full_subscriber_sheds_and_counts(transport: Transport) -> None:
    subject = transport.subject("burst")
    async with transport.subscribe(subject, buffer=4) as slow:
        for i in range(100):
            transport.publish(subject, str(i).encode())
        await transport.flush()
        await wait_until(lambda: transport.stats.received + transport.stats.receive_shed == 100)
        assert transport.stats.received == 4 and transport.stats.receive_shed == 96
        assert [int((await slow.receive()).data) for _ in range(4)] == [0, 1, 2, 3]


async def test_a_full_publish_queue_sheds_and_counts(transport: Transport) -> None:
    transport.max_queued_messages = 10
    transport.direct_publish_bytes = 4  # nats-py takes one message directly, then it queues
    subject = transport.subject("flood")
    for i in range(25):  # no checkpoint: neither nats-py's flusher nor the drainer runs
        transport.publish(subject, str(i).encode())
    assert transport.stats.publish_shed == 14
    await transport.flush()
    assert transport.stats.published == 11


async def test_a_burst_is_published_directly_then_queued_in_order(transport: Transport) -> None:
    """Up to `direct_publish_bytes` unflushed, publish hands messages to nats-py at once;
    beyond that they queue for the drainer: either way they arrive in order, all counted."""
    transport.direct_publish_bytes = 2_000
    subject = transport.subject("burst")
    async with transport.subscribe(subject, buffer=500) as inbox:
        for i in range(300):  # ~100 bytes each: the first ~20 go directly, the rest queue
            transport.publish(subject, f"{i:03d}".encode() * 33)
        got = [(await inbox.receive()).data[:3] for _ in range(300)]
    assert got == [f"{i:03d}".encode() for i in range(300)]
    assert transport.stats.published == 300 and transport.stats.publish_shed == 0


async def test_bad_names_and_sizes_are_refused(transport: Transport, nats_url: str) -> None:
    with pytest.raises(ValueError):
        transport.subject("a.b")
    with pytest.raises(ValueError):
        transport.subject("a b")
    with pytest.raises(ValueError):
        transport.publish(transport.subject("x", "*"), b"wildcards only subscribe")
    with pytest.raises(MessageTooLarge):
        transport.publish(transport.subject("big"), b"x" * (8 * 1024 * 1024 + 1))
    with pytest.raises(ValueError):
        async with open_transport(nats_url, cluster="no.dots", name="x"):
            pass


async def test_unreachable_server_is_unavailable_and_credentials_are_not_shown() -> None:
    assert redact("nats://u:secret@10.0.0.1:4222") == "nats://***@10.0.0.1:4222"
    assert redact("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    with trio.fail_after(5):
        with pytest.raises(TransportUnavailable) as caught:
            async with open_transport(
                "nats://user:secret@127.0.0.1:1", cluster="c", name="x", connect_timeout=1
            ):
                pass
    assert "secret" not in str(caught.value)


async def test_send_request_hands_the_reply_or_the_failure_to_its_callback(
    transport: Transport, nats_url: str, cluster_name: str
) -> None:
    got: list[bytes | Exception] = []
    subject = transport.subject("echo-cb")
    async with (
        open_transport(nats_url, cluster=cluster_name, name="server") as server,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(_echo, server, subject)
        pending = transport.send_request(subject, b"1", got.append)
        assert await pending.wait(5) == b"echo:1"
        assert got == [b"echo:1"]  # delivered before the waiter woke
        nursery.cancel_scope.cancel()
    nobody = transport.send_request(transport.subject("nobody-cb"), b"?", got.append)
    with pytest.raises(TransportUnavailable):
        await nobody.wait(5)
    assert isinstance(got[1], TransportUnavailable)
    async with transport.subscribe(transport.subject("silent-cb")):
        silent = transport.send_request(transport.subject("silent-cb"), b"?", got.append)
        with pytest.raises(TransportTimeout):
            await silent.wait(0.2)
    assert len(got) == 2  # a timed-out request's callback is never called
    assert transport._pending == {}


async def test_subscribe_calls_hands_each_message_to_the_handler_in_order(
    transport: Transport, nats_url: str, cluster_name: str
) -> None:
    got: list[bytes] = []
    subject = transport.subject("calls")

    def handler(message: Message) -> None:
        got.append(message.data)
        if message.data == b"3":
            raise RuntimeError("a failing handler is logged, not fatal")

    async with (
        open_transport(nats_url, cluster=cluster_name, name="sender") as sender,
        transport.subscribe_calls(subject, handler),
    ):
        for i in range(10):
            sender.publish(subject, str(i).encode())
        await sender.flush()
        await wait_until(lambda: len(got) == 10, timeout=5)
    assert got == [str(i).encode() for i in range(10)]
