"""Remote actor refs between two actor systems on the real NATS, with toy actors:
tell, ask, ordering, errors, refs inside messages, ask timeout, a stopped remote actor
and a vanished remote system (both ActorStopped), bad input on the wire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import trio

from switchyard.cluster.membership import Membership
from switchyard.cluster.transport_open import open_transport
from switchyard.runtime import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    AskTimeout,
    ChildSpec,
    MessageRegistry,
    Refusal,
    RemoteEndpoint,
    RemoteError,
    RemoteRef,
    remote_endpoint,
)
from tests.polling import wait_until
from tests.runtime.toys import Add, Crash, Exit, Get, Sleep, counter

from .nats_proxy import nats_proxy


class TooBig(Refusal):
    """A toy refusal that crosses (registered)."""


@dataclass(frozen=True)
class Greet:
    who: str
    tags: tuple[str, ...] = ()
    blob: bytes = b""


@dataclass(frozen=True)
class Relay:
    """Ask the actor to `tell` `n` to `to` (a ref that crossed inside the message)."""

    to: Any
    n: int


@dataclass(frozen=True)
class Refuse:
    limit: int


class Greeter(Actor):
    """Answers Greet; relays numbers to a ref it was given; refuses on request."""

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Greet(who=who, tags=tags, blob=blob):
                return {"hello": who, "tags": tags, "blob": blob}
            case Relay(to=to, n=n):
                to.tell(Add(n))
                return type(to).__name__
            case Refuse(limit=limit):
                raise TooBig(f"over {limit}")
        return await super().handle(msg)


def registry() -> MessageRegistry:
    reg = MessageRegistry()
    for cls in (Add, Get, Crash, Exit, Sleep, Greet, Relay, Refuse):
        reg.register(cls)
    reg.register_error(TooBig)
    return reg


@dataclass
class Node:
    system: ActorSystem
    endpoint: RemoteEndpoint
    membership: Membership


@asynccontextmanager
async def node(url: str, cluster: str, name: str) -> AsyncIterator[Node]:
    children = [ChildSpec("counter", counter("counter")), ChildSpec("greeter", Greeter)]
    async with (
        open_transport(url, cluster=cluster, name=name) as transport,
        ActorSystem.open(children) as system,
        trio.open_nursery() as nursery,
    ):
        membership = Membership(transport, name)
        await nursery.start(membership.run)
        async with remote_endpoint(system, transport, name, registry(), membership) as endpoint:
            yield Node(system, endpoint, membership)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def two_nodes(
    url: str, cluster: str, b_url: str | None = None
) -> AsyncIterator[tuple[Node, Node]]:
    async with node(url, cluster, "a") as a, node(b_url or url, cluster, "b") as b:
        await wait_until(lambda: a.membership.is_live("b") and b.membership.is_live("a"))
        yield a, b


async def test_tell_and_ask_across_systems_keep_order(nats_url: str, cluster_name: str) -> None:
    async with two_nodes(nats_url, cluster_name) as (a, b):
        ref = a.endpoint.ref("b", "/root/counter")
        assert isinstance(ref, RemoteRef) and ref.alive and ref.name == "counter"
        for n in range(1, 101):
            ref.tell(Add(n))
        assert await ref.ask(Get(), timeout=5) == 5050  # the ask is behind the tells
        assert await ref.ask(Add(1), timeout=5) == 5051
        local = a.endpoint.ref("a", "/root/counter")
        assert isinstance(local, ActorRef)  # the own node's ref is the local one
        assert await local.ask(Get()) == 0
        assert b.endpoint.stats.tells_in == 100 and b.endpoint.stats.asks_in == 2


async def test_values_and_errors_cross(nats_url: str, cluster_name: str) -> None:
    async with two_nodes(nats_url, cluster_name) as (a, _):
        greeter = a.endpoint.ref("b", "/root/greeter")
        answer = await greeter.ask(Greet("ann", ("x", "y"), b"\x00\xff"), timeout=5)
        assert answer == {"hello": "ann", "tags": ("x", "y"), "blob": b"\x00\xff"}
        with pytest.raises(TooBig, match="over 3"):  # a registered refusal, rebuilt
            await greeter.ask(Refuse(3), timeout=5)
        assert await greeter.ask(Greet("still alive"), timeout=5)  # a refusal is no crash
        counter_b = a.endpoint.ref("b", "/root/counter")
        with pytest.raises(RemoteError, match="ValueError: kaboom"):  # a crash, unregistered
            await counter_b.ask(Crash("kaboom"), timeout=5)
        with pytest.raises(TypeError):  # nothing unregistered leaves this side
            counter_b.tell(object())
        with pytest.raises(ActorStopped):  # no such actor there
            await a.endpoint.ref("b", "/root/nobody").ask(Get(), timeout=5)


async def test_refs_inside_messages_point_back(nats_url: str, cluster_name: str) -> None:
    async with two_nodes(nats_url, cluster_name) as (a, b):
        mine = a.system.lookup("/root/counter")
        greeter = a.endpoint.ref("b", "/root/greeter")
        # the greeter on b gets a ref to a's counter: remote there, and tells across
        assert await greeter.ask(Relay(mine, 7), timeout=5) == "RemoteRef"
        await wait_until(lambda: mine.ask(Get()))
        assert await mine.ask(Get()) == 7
        # a ref to b's own counter, sent by a, is a local ActorRef when it arrives on b
        theirs = a.endpoint.ref("b", "/root/counter")
        assert await greeter.ask(Relay(theirs, 5), timeout=5) == "ActorRef"
        assert await b.system.lookup("/root/counter").ask(Get()) == 5


async def test_ask_timeout(nats_url: str, cluster_name: str) -> None:
    async with two_nodes(nats_url, cluster_name) as (a, _):
        ref = a.endpoint.ref("b", "/root/counter")
        with pytest.raises(AskTimeout):
            await ref.ask(Sleep(2), timeout=0.3)
        assert await ref.ask(Get(), timeout=5) == 0  # it finished sleeping, then answered


async def test_a_stopped_remote_actor_is_actor_stopped(nats_url: str, cluster_name: str) -> None:
    async with two_nodes(nats_url, cluster_name) as (a, b):
        ref = a.endpoint.ref("b", "/root/greeter")
        assert await b.system.stop("/root/greeter")
        with pytest.raises(ActorStopped):
            await ref.ask(Greet("anyone?"), timeout=5)
        ref.tell(Greet("lost"))  # a tell to it is a dead letter over there
        await wait_until(lambda: b.endpoint.stats.dead_letters == 1)


async def test_asks_to_a_vanished_system_end_in_actor_stopped(
    nats_url: str, cluster_name: str
) -> None:
    async with (
        nats_proxy(nats_url) as proxy,
        two_nodes(nats_url, cluster_name, proxy.url) as (
            a,
            _,
        ),
    ):
        ref = a.endpoint.ref("b", "/root/counter")
        failures: list[BaseException] = []

        async def ask_slow() -> None:
            try:
                await ref.ask(Sleep(6), timeout=30)
            except ActorStopped as exc:
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask_slow)
            await trio.sleep(0.2)  # the ask is being served on b
            proxy.cut()  # b is gone without a word (its link dies, like kill -9)
            # cut short once membership says b lapsed, long before the ask's 30 s
            await wait_until(lambda: failures, timeout=15)
        assert not ref.alive
        with trio.fail_after(10):
            with pytest.raises(ActorStopped):  # refused at once while b is gone (not 30 s)
                await ref.ask(Get(), timeout=30)


async def test_asks_to_a_system_whose_endpoint_stopped_fail_at_once(
    nats_url: str, cluster_name: str
) -> None:
    async with (
        node(nats_url, cluster_name, "a") as a,
        open_transport(nats_url, cluster=cluster_name, name="plain") as plain,
    ):
        # "c" never ran an endpoint: nobody serves its subject, the server says so
        with trio.fail_after(10):  # not the ask's 30 s
            with pytest.raises(ActorStopped):
                await RemoteRef(a.endpoint, "c", "/root/counter").ask(Get(), timeout=30)
        # garbage on a's subject is refused with an error reply, not a crash
        subject = plain.subject("actors", "a")
        for junk in (b"nope", b"[]", b'{"p": "/root/counter", "m": {"$m": "Unknown", "f": {}}}',
                     b'{"p": "/root/counter", "m": null, "t": -1}'):  # fmt: skip
            reply = json.loads(await plain.request(subject, junk, timeout=5))
            assert "error" in reply
        assert a.endpoint.stats.malformed == 4
        assert await a.system.lookup("/root/counter").ask(Get()) == 0
