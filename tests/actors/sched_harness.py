"""A real ActorSystem running a SchedulerActor, with toy actors standing in for providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from switchyard.actors.scheduler import SchedulerActor
from switchyard.actors.scheduler_messages import (
    CapacityUpdate,
    ModelCapacity,
    ModelsQuery,
    NoCapacity,
    ProviderGone,
    Release,
    Reservation,
    Reserve,
    SchedulerConfig,
    SchedulerStats,
)
from switchyard.protocol.vocabulary import Capability, Trust
from switchyard.runtime import Actor, ActorRef, ActorSystem, ChildSpec

from ..polling import wait_until


class Recorder(Actor):
    """Stands in for a provider actor: records whatever it is told."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def handle(self, msg: Any) -> Any:
        self.seen.append(msg)
        return len(self.seen)


@dataclass
class Harness:
    """Shortcuts for talking to the scheduler under test."""

    system: ActorSystem
    sched: ActorRef
    provider_ref: ActorRef

    async def offer(
        self,
        provider_id: str,
        model: str | dict[str, ModelCapacity] = "m",
        slots: int = 1,
        prefill: float = 2000.0,
        decode: float = 50.0,
        trust: str = "self_signed",
        routable: bool = True,
    ) -> None:
        """Tell a CapacityUpdate (waiting for mailbox room, so bulk offers never overflow)."""
        if isinstance(model, str):
            model = {model: ModelCapacity(slots, prefill, decode)}
        update = CapacityUpdate(provider_id, self.provider_ref, Trust.parse(trust), routable, model)
        await self.sched.send(update)

    async def reserve(
        self,
        model: str = "m",
        prompt: int = 100,
        max_tokens: int = 100,
        min_trust: str = "self_signed",
        exclude: Iterable[str] = (),
        wait: float = 0.0,
        needs: Iterable[Capability] = (),
        min_context: int = 0,
    ) -> Reservation | NoCapacity:
        """Reserve with a deadline `wait` seconds from now (0: answer at once)."""
        msg = Reserve(
            model,
            prompt,
            max_tokens,
            min_trust,
            frozenset(exclude),
            deadline=trio.current_time() + wait,
            needs=frozenset(needs),
            min_context=min_context,
        )
        return await self.sched.ask(msg, timeout=wait + 5.0)

    async def grant(self, **kwargs: Any) -> Reservation:
        """Reserve and insist on a Reservation."""
        result = await self.reserve(**kwargs)
        assert isinstance(result, Reservation), result
        return result

    def release(self, reservation: Reservation | str, outcome: str = "ok", **kwargs: Any) -> None:
        rid = reservation if isinstance(reservation, str) else reservation.id
        self.sched.tell(Release(rid, outcome, **kwargs))

    def gone(self, provider_id: str) -> None:
        self.sched.tell(ProviderGone(provider_id))

    async def stats(self) -> dict[str, Any]:
        return await self.sched.ask(SchedulerStats())

    async def models(self, include_offline: bool = False) -> dict[str, dict[str, int]]:
        return await self.sched.ask(ModelsQuery(include_offline))

    async def until_queued(self, n: int) -> None:
        """Wait until exactly `n` Reserves are waiting in the scheduler's queues."""

        async def queued() -> bool:
            return (await self.stats())["queued_total"] == n

        await wait_until(queued, timeout=10)

    async def until_counter(self, name: str, value: int) -> None:
        """Wait until the scheduler's counter `name` reaches `value`."""

        async def reached() -> bool:
            return (await self.stats())["counters"][name] >= value

        await wait_until(reached, timeout=10)


@asynccontextmanager
async def running_scheduler(config: SchedulerConfig | None = None) -> AsyncIterator[Harness]:
    """An ActorSystem with `scheduler` (SchedulerActor) and `provider` (a Recorder)."""
    config = config or SchedulerConfig(seed=7)
    children = [
        ChildSpec("scheduler", lambda: SchedulerActor(config)),
        ChildSpec("provider", Recorder),
    ]
    async with ActorSystem.open(children) as system:
        yield Harness(system, system.lookup("scheduler"), system.lookup("provider"))
