"""The NATS transport opened while NATS is unreachable (`require=False`; the connection
goes through a proxy that refuses, the shared server stays up): it is handed out
unconnected, sheds and refuses like a disconnected one, and on the first connect makes
every subscription opened meanwhile (and its reply inbox), so it works as if opened
connected. A malformed URL is refused at once either way."""

from __future__ import annotations

import pytest
import trio

from switchyard.cluster.errors import TransportUnavailable
from switchyard.cluster.transport import Message, Transport
from switchyard.cluster.transport_open import open_transport

from .nats_proxy import nats_proxy


async def _echo(transport: Transport, subject: str, task_status: trio.TaskStatus[None]) -> None:
    async with transport.subscribe(subject) as requests:
        task_status.started()
        async for message in requests:
            transport.reply(message, b"echo:" + message.data)


async def _receive(channel: trio.MemoryReceiveChannel[Message]) -> Message:
    with trio.fail_after(10):
        return await channel.receive()


async def test_opened_before_nats_answers_it_joins_on_the_first_connect(
    nats_url: str, cluster_name: str
) -> None:
    async with nats_proxy(nats_url) as proxy:
        proxy.cut()
        async with (
            open_transport(
                proxy.url, cluster=cluster_name, name="late", connect_timeout=1, require=False
            ) as late,
            open_transport(nats_url, cluster=cluster_name, name="steady") as steady,
            trio.open_nursery() as nursery,
        ):
            assert not late.connected and not late.ever_connected
            assert late.connected_since is None
            late.publish(late.subject("x"), b"lost")
            assert late.stats.publish_shed == 1
            with pytest.raises(TransportUnavailable):
                await late.request(late.subject("x"), b"?", timeout=1)
            with pytest.raises(TransportUnavailable):
                await late.key_value("any")
            async with late.subscribe(late.subject("dropped")):
                pass  # opened and closed before the first connect: never made
            await nursery.start(_echo, late, late.subject("echo"))  # deferred

            async with late.subscribe(late.subject("news")) as news:
                proxy.restore()
                with trio.fail_after(30):
                    await late.wait_connected()
                assert late.ever_connected and late.stats.reconnects == 0
                assert late._deferred == []
                steady.publish(steady.subject("news"), b"hello")
                assert (await _receive(news)).data == b"hello"
            # its deferred subscription answers; its inbox takes replies
            assert await steady.request(steady.subject("echo"), b"1", timeout=10) == b"echo:1"
            with pytest.raises(TransportUnavailable, match="no responders"):
                await late.request(late.subject("dropped"), b"?", timeout=10)
            kv = await late.key_value("joined")
            try:
                await kv.put("k", b"v")
                assert (entry := await kv.get("k")) is not None and entry.value == b"v"
            finally:
                await late.delete_key_value("joined")
            nursery.cancel_scope.cancel()


async def test_unreachable_without_require_is_handed_out_and_closes_cleanly() -> None:
    with trio.fail_after(10):
        async with open_transport(
            "nats://127.0.0.1:1", cluster="c", name="x", connect_timeout=0.5, require=False
        ) as transport:
            assert not transport.connected
            async with transport.subscribe(transport.subject("a")):
                await trio.sleep(1.5)  # a retry or two happen meanwhile
            assert not transport.connected


async def test_a_malformed_url_is_refused_at_once() -> None:
    for url in ("nats://host:notaport", "nats://a:1,nats://b:2", ""):
        with pytest.raises(ValueError, match="invalid NATS URL"):
            async with open_transport(url, cluster="c", name="x", require=False):
                pass
