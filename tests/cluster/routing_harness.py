"""Two (or more) replicas in one process for routing tests: each its own ActorSystem with
a real SchedulerActor, its own NATS connection (one cluster name) and `open_routing`;
`ScriptedProvider` actors stand in for provider actors (the test says what they stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from switchyard.actors.provider_messages import Cancel, Dispatch, StreamChunk, StreamEnd
from switchyard.actors.scheduler import SchedulerActor
from switchyard.actors.scheduler_messages import (
    CapacityUpdate,
    ModelCapacity,
    ModelsQuery,
    Reservation,
    Reserve,
    SchedulerConfig,
    SchedulerStats,
)
from switchyard.cluster.routing import Routing, open_routing
from switchyard.cluster.transport_open import open_transport
from switchyard.protocol.vocabulary import Trust
from switchyard.runtime import Actor, ActorRef, ActorSystem, ChildSpec

from ..polling import wait_until


@dataclass(frozen=True)
class Emit:
    """Push `items` into the stream of `request_id` (`close`: then close it, no end)."""

    request_id: str
    items: list[StreamChunk | StreamEnd]
    close: bool = False


class ScriptedProvider(Actor):
    """A provider actor's stand-in: offers `slots` of model "m", records dispatches and
    cancels, and streams what the test `Emit`s."""

    def __init__(self, provider_id: str, slots: int = 2, trust: Trust = Trust.SELF_SIGNED):
        self.provider_id = provider_id
        self.slots = slots
        self.trust = trust
        self.streams: dict[str, Any] = {}
        self.dispatched: list[str] = []
        self.kinds: list[str] = []  # each dispatch's request kind, in order
        self.bodies: list[str] = []  # each dispatch's body, in order
        self.cancelled: list[str] = []

    async def on_start(self) -> None:
        update = CapacityUpdate(
            self.provider_id, self.ref, self.trust, True, {"m": ModelCapacity(self.slots)}
        )
        self.system.lookup("/root/scheduler").tell(update)

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Dispatch():
                self.streams[msg.request_id] = msg.stream
                self.dispatched.append(msg.request_id)
                self.kinds.append(str(msg.kind))
                self.bodies.append(msg.body_json)
                return True
            case Emit(request_id=request_id, items=items, close=close):
                stream = self.streams[request_id]
                for item in items:
                    stream.send_nowait(item)
                if close or any(type(i) is StreamEnd for i in items):
                    stream.close()
            case Cancel(request_id=request_id):
                self.cancelled.append(request_id)
            case "state":
                return {
                    "dispatched": list(self.dispatched),
                    "kinds": list(self.kinds),
                    "cancelled": list(self.cancelled),
                    "bodies": list(self.bodies),
                }
            case _:
                return await super().handle(msg)
        return None


@dataclass
class Replica:
    name: str
    system: ActorSystem
    routing: Routing
    scope: trio.CancelScope
    stop: trio.Event
    providers: dict[str, ActorRef] = field(default_factory=dict)

    def kill(self) -> None:
        """Stop this replica at once: cancelled mid-flight, it publishes nothing more."""
        self.scope.cancel()

    @property
    def scheduler(self) -> ActorRef:
        return self.system.lookup("/root/scheduler")

    async def add_provider(
        self, provider_id: str, slots: int = 2, trust: Trust = Trust.SELF_SIGNED
    ) -> ActorRef:
        spec = ChildSpec(provider_id, lambda: ScriptedProvider(provider_id, slots, trust))
        ref = self.providers[provider_id] = await self.system.spawn(spec)
        return ref

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.scheduler.ask(SchedulerStats())
        return stats

    async def sees(self, providers_online: int, model: str = "m") -> None:
        """Wait until this replica's scheduler has `providers_online` providers of model."""

        async def seen() -> bool:
            models = await self.scheduler.ask(ModelsQuery())
            return models.get(model, {}).get("providers_online", 0) == providers_online

        await wait_until(seen, timeout=10)

    async def provider_state(self, provider_id: str) -> dict[str, list[str]]:
        state: dict[str, list[str]] = await self.providers[provider_id].ask("state")
        return state


@asynccontextmanager
async def replica(
    nursery: trio.Nursery, nats_url: str, cluster: str, name: str, lapse_s: float = 3.0
) -> AsyncIterator[Replica]:
    """Run replica `name` in `nursery` until the block ends (then it stops cleanly) or
    `Replica.kill` is called."""
    ready: list[Replica] = []
    started = trio.Event()
    done = trio.Event()
    stop = trio.Event()

    async def run() -> None:
        try:
            with trio.CancelScope() as scope:
                spec = ChildSpec("scheduler", lambda: SchedulerActor(SchedulerConfig(seed=1)))
                async with (
                    ActorSystem.open([spec]) as system,
                    open_transport(nats_url, cluster=cluster, name=name) as transport,
                    open_routing(system, transport, name, lapse_s=lapse_s) as routing,
                ):
                    ready.append(Replica(name, system, routing, scope, stop))
                    started.set()
                    await stop.wait()
        finally:
            started.set()
            done.set()

    nursery.start_soon(run)
    await started.wait()
    assert ready, f"replica {name} did not start"
    try:
        yield ready[0]
    finally:
        stop.set()
        await done.wait()


async def stale_dispatch(
    a: Replica, b: Replica, request_id: str, body_json: str
) -> tuple[Reservation, Dispatch, trio.MemoryReceiveChannel[StreamChunk | StreamEnd]]:
    """Take B's only slot of "m" on B, then build the dispatch A would send on a view that
    still shows it free (B must refuse it): (B's reservation, the dispatch, its stream)."""
    taken = await b.scheduler.ask(Reserve("m", 1, 1, deadline=trio.current_time()))
    assert isinstance(taken, Reservation)
    stale = Reservation("rsv-x", "pb", a.routing.proxy, "m", None, "rb")
    reserve = Reserve("m", 1, 1, deadline=trio.current_time())
    send, receive = trio.open_memory_channel[StreamChunk | StreamEnd](8)
    dispatch = Dispatch(request_id, "m", body_json, 2e9, send, remote=(stale, reserve))
    return taken, dispatch, receive
