"""Random offer/reserve/release/gone sequences keep the scheduler's books exact.

Providers may lack tools and report a context length; reserves may need tools or a long
context: grants, waiting and the models' profiles must follow (issue 14, items 5, 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.actors.scheduler_messages import (
    ModelCapacity,
    ModelsQuery,
    NoCapacity,
    Reservation,
    Reserve,
    SchedulerConfig,
)
from switchyard.protocol.vocabulary import Capability, Support, Trust
from switchyard.runtime import Ask, Reply

from .sched_harness import Harness, running_scheduler

PIDS = ["p0", "p1", "p2"]
MODELS = ["a", "b"]
TRUSTS = ["untrusted", "self_signed", "hardware"]
BIG = ("hardware", True, False, None)
TOOLS = Capability.TOOLS
CONTEXTS = [None, 1000, 4000]


def offers(routable: st.SearchStrategy[bool], min_slots: int) -> st.SearchStrategy[tuple]:
    return st.tuples(
        st.just("offer"),
        st.sampled_from(PIDS),
        st.dictionaries(st.sampled_from(MODELS), st.integers(min_slots, 2), min_size=1),
        st.sampled_from(TRUSTS),
        routable,
        st.booleans(),  # lacks tools?
        st.sampled_from(CONTEXTS),
    )


reserves = st.tuples(
    st.just("reserve"),
    st.sampled_from(["a", "a", "b"]),
    st.sampled_from(TRUSTS[:2]) | st.sampled_from(TRUSTS),
    st.just(frozenset()) | st.frozensets(st.sampled_from(PIDS), max_size=2),
    st.sampled_from([True, True, False]),  # wait in the queue for a moment?
    st.sampled_from([False, False, True]),  # needs tools?
    st.sampled_from([0, 0, 2000]),  # context it needs
)
releases = st.tuples(
    st.just("release"), st.integers(0, 50), st.sampled_from(["ok", "error", "cancelled"])
)
setup = st.lists(offers(st.just(True), 1), min_size=2, max_size=4)
ops = st.lists(
    st.one_of(
        reserves,
        reserves,
        reserves,
        releases,
        releases,
        releases,
        offers(st.booleans(), 0),
        st.tuples(st.just("stale_release"), st.integers(0, 50)),
        st.tuples(st.just("gone"), st.sampled_from(PIDS)),
        st.tuples(st.just("lost"), st.sampled_from(MODELS)),
    ),
    min_size=10,
    max_size=40,
)


@dataclass
class Offer:
    trust: Trust
    routable: bool
    slots: dict[str, int]
    lacks_tools: bool = False
    context: int | None = None

    def fits(self, wish: Wish) -> bool:
        if wish.tools and self.lacks_tools:
            return False
        return self.context is None or self.context >= wish.min_context


@dataclass(frozen=True)
class Wish:
    model: str
    floor: Trust
    exclude: frozenset[str]
    tools: bool = False
    min_context: int = 0

    @property
    def needs(self) -> frozenset[Capability]:
        return frozenset({TOOLS}) if self.tools else frozenset()


@dataclass
class Books:
    """The test's own model of what the scheduler should hold, updated before each message."""

    providers: dict[str, Offer] = field(default_factory=dict)
    live: dict[str, tuple[str, str]] = field(default_factory=dict)  # rid → (provider, model)
    dead: list[str] = field(default_factory=list)
    waiting: list[Wish] = field(default_factory=list)

    def free(self, pid: str, model: str) -> int:
        offer = self.providers[pid]
        used = sum(1 for key in self.live.values() if key == (pid, model))
        return max(offer.slots.get(model, 0) - used, 0)

    def servable(self, wish: Wish) -> list[str]:
        """Providers with a free slot this wish may use."""
        return [
            pid
            for pid, offer in self.providers.items()
            if offer.routable
            and offer.trust >= wish.floor
            and pid not in wish.exclude
            and offer.fits(wish)
            and self.free(pid, wish.model) > 0
        ]

    def eligible(self, wish: Wish) -> list[str]:
        """Providers online that could serve this wish once they have a free slot."""
        return [
            pid
            for pid, offer in self.providers.items()
            if offer.routable
            and offer.trust >= wish.floor
            and pid not in wish.exclude
            and offer.fits(wish)
            and offer.slots.get(wish.model, 0) > 0
        ]

    def record(self, wish: Wish, result: Any) -> None:
        if isinstance(result, Reservation):
            assert result.provider_id in self.servable(wish), (wish, result, self)
            self.live[result.id] = (result.provider_id, result.model)
        else:
            assert isinstance(result, NoCapacity)


async def apply(h: Harness, nursery: trio.Nursery, books: Books, op: tuple) -> None:
    kind = op[0]
    if kind == "offer":
        _, pid, models, trust, routable, lacks_tools, context = op
        offer = Offer(Trust.parse(trust), routable, dict(models), lacks_tools, context)
        books.providers[pid] = offer
        lacking = frozenset({TOOLS}) if lacks_tools else frozenset()
        caps = {
            m: ModelCapacity(n, context_length=context, lacking=lacking) for m, n in models.items()
        }
        await h.offer(pid, caps, trust=trust, routable=routable)
    elif kind == "reserve":
        _, model, floor, exclude, wait, tools, min_context = op
        wish = Wish(model, Trust.parse(floor), exclude, tools, min_context)
        asked = {"model": model, "min_trust": floor, "exclude": exclude}
        asked |= {"needs": wish.needs, "min_context": min_context}
        if not wait:
            books.record(wish, await h.reserve(**asked))
            return

        async def waiter() -> None:
            books.waiting.append(wish)
            try:
                result = await h.reserve(**asked, wait=0.05)
            finally:
                books.waiting.remove(wish)
            books.record(wish, result)

        nursery.start_soon(waiter)
    elif kind == "release" and books.live:
        rid = sorted(books.live)[op[1] % len(books.live)]
        del books.live[rid]
        books.dead.append(rid)
        h.release(rid, op[2], duration_s=0.5)
    elif kind == "stale_release" and books.dead:
        h.release(books.dead[op[1] % len(books.dead)])
    elif kind == "gone":
        books.providers.pop(op[1], None)
        for rid, (pid, _) in list(books.live.items()):
            if pid == op[1]:
                del books.live[rid]
                books.dead.append(rid)
        h.gone(op[1])
    elif kind == "lost":
        reply = Reply()
        h.sched.tell(Ask(Reserve(op[1], 10, 10, deadline=trio.current_time()), reply))
        await reply.event.wait()
        reply.abandon()  # as `ask` does when cancelled before taking the reply


async def check(h: Harness, books: Books) -> None:
    for wish in books.waiting:  # FIFO rule: nobody waits while a slot it may use is free
        assert not books.servable(wish), (wish, books)
        assert books.eligible(wish), (wish, books)  # ...nor for what can never come
    stats = await h.stats()
    assert stats["reserved_total"] == len(books.live)
    assert sum(stats["reserved_by_model"].values()) == len(books.live)
    assert stats["queued_total"] == len(books.waiting)
    models = await h.sched.ask(ModelsQuery(include_offline=True, profiles=True))
    for model, summary in models.items():
        online = [p for p, o in books.providers.items() if o.routable and o.slots.get(model, 0)]
        assert summary["providers_online"] == len(online)
        assert summary["slots_free"] == sum(books.free(p, model) for p in online)
        profile = summary["profile"]
        contexts = [books.providers[p].context for p in online]
        known = [c for c in contexts if c is not None]
        assert profile.context_length == (max(known) if known else None)
        assert profile.context_bounded == (bool(online) and None not in contexts)
        no_tools = bool(online) and all(books.providers[p].lacks_tools for p in online)
        assert (profile.capabilities[TOOLS] is Support.NO) == no_tools


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=setup, sequence=ops)
async def test_reserved_total_always_equals_live_reservations(
    start: list[tuple], sequence: list[tuple]
) -> None:
    books = Books()
    async with running_scheduler(SchedulerConfig(queue_limit=3, seed=0)) as h:
        async with trio.open_nursery() as nursery:
            for op in start + sequence:
                await apply(h, nursery, books, op)
                await trio.testing.wait_all_tasks_blocked()
                await check(h, books)
            # a big hardware provider arrives: every waiter left is granted at once
            await apply(h, nursery, books, ("offer", "big", dict.fromkeys(MODELS, 99), *BIG))
            await trio.testing.wait_all_tasks_blocked()
            assert not books.waiting
        await check(h, books)
        for rid in list(books.live):
            h.release(rid)
        stats = await h.stats()
        assert stats["reserved_total"] == 0 and stats["queued_total"] == 0
        assert stats["reserved_by_model"] == {}
