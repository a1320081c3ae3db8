"""SchedulerActor: capabilities and context lengths route requests (issue 14, items 5, 6).

A provider model says yes, no or nothing about each capability and may report its context
length. A Reserve that needs a capability is granted only slots that do not say no; one
that needs a context length only slots that report at least that much (or nothing). When
no provider online could ever serve it, the refusal is immediate and says why.
`ModelProfileQuery` answers the model's largest context and its capabilities.
"""

from __future__ import annotations

import trio

from switchyard.actors.scheduler_messages import (
    ModelCapacity,
    ModelProfile,
    ModelProfileQuery,
    ModelsQuery,
    NoCapacityReason,
    Reservation,
)
from switchyard.protocol.vocabulary import Capability, Support

from ..polling import wait_until
from .sched_harness import Harness, running_scheduler
from .test_scheduler_queue import LONG, park
from .test_scheduler_refusals import refused

TOOLS = Capability.TOOLS
VISION = Capability.VISION
NO_TOOLS = frozenset({TOOLS})


def model(
    slots: int = 8,
    context: int | None = None,
    lacking: frozenset[Capability] = frozenset(),
    able: frozenset[Capability] = frozenset(),
) -> dict[str, ModelCapacity]:
    return {"m": ModelCapacity(slots, context_length=context, lacking=lacking, able=able)}


async def profile(h: Harness, name: str = "m") -> ModelProfile:
    return await h.sched.ask(ModelProfileQuery(name))


async def test_a_request_needing_tools_never_goes_to_a_provider_saying_no() -> None:
    async with running_scheduler() as h:
        await h.offer("no-tools", model(lacking=NO_TOOLS))
        await h.offer("says-yes", model(slots=4, able=NO_TOOLS))
        await h.offer("says-nothing", model(slots=4))
        grants = [await h.grant(needs={TOOLS}) for _ in range(8)]
        assert {g.provider_id for g in grants} == {"says-yes", "says-nothing"}
        # both capable providers are full now: a tools request waits, a plain one does not
        plain = await h.grant()
        assert plain.provider_id == "no-tools"
        result = await h.reserve(needs={TOOLS})
        assert not isinstance(result, Reservation)
        assert result.reason == NoCapacityReason.TIMEOUT


async def test_when_every_provider_says_no_the_refusal_is_immediate_and_named() -> None:
    async with running_scheduler() as h:
        await h.offer("a", model(lacking=NO_TOOLS))
        await h.offer("b", model(lacking=frozenset({TOOLS, VISION})))
        await refused(h, NoCapacityReason.CAPABILITY, needs={TOOLS})
        assert (await h.stats())["counters"]["refused_capability"] == 1
        prof = await profile(h)
        assert prof.capabilities[TOOLS] is Support.NO
        assert prof.capabilities[VISION] is Support.UNKNOWN  # "a" does not say
        assert prof.lacks(frozenset({TOOLS, VISION, Capability.REASONING})) == [TOOLS]
        # a provider that does not say no is enough
        await h.offer("c", model(slots=1))
        assert (await h.grant(needs={TOOLS})).provider_id == "c"
        assert (await profile(h)).capabilities[TOOLS] is Support.UNKNOWN


async def test_long_requests_go_only_to_providers_with_the_context() -> None:
    async with running_scheduler() as h:
        await h.offer("small", model(context=4096))
        await h.offer("large", model(slots=2, context=32768))
        grants = [await h.grant(min_context=8000) for _ in range(2)]
        assert {g.provider_id for g in grants} == {"large"}
        await refused(h, NoCapacityReason.CONTEXT, min_context=40000)
        prof = await profile(h)
        assert (prof.context_length, prof.context_bounded) == (32768, True)
        # a provider that reports no context length may be tried with anything
        await h.offer("unsaid", model(slots=1))
        assert (await h.grant(min_context=40000)).provider_id == "unsaid"
        prof = await profile(h)
        assert (prof.context_length, prof.context_bounded) == (32768, False)


async def test_the_profile_follows_providers_coming_changing_and_leaving() -> None:
    async with running_scheduler() as h:
        assert (await profile(h, "nobody")).providers_online == 0
        await h.offer("a", model(context=8192, able=NO_TOOLS))
        await h.offer("b", model(context=131072, lacking=NO_TOOLS))
        prof = await profile(h)
        assert (prof.providers_online, prof.context_length) == (2, 131072)
        assert prof.capabilities[TOOLS] is Support.YES  # one says yes
        h.gone("b")
        prof = await profile(h)
        assert (prof.providers_online, prof.context_length) == (1, 8192)
        # "a" re-registers its model without tools: now every provider online says no
        await h.offer("a", model(context=16384, lacking=NO_TOOLS))
        prof = await profile(h)
        assert (prof.context_length, prof.capabilities[TOOLS]) == (16384, Support.NO)
        await refused(h, NoCapacityReason.CAPABILITY, needs={TOOLS})
        await h.offer("a", model(context=16384), routable=False)
        assert (await profile(h)).providers_online == 0
        served = await h.sched.ask(ModelsQuery(include_offline=True, profiles=True))
        assert served["m"]["profile"].context_length is None


async def test_a_waiter_needing_a_capability_does_not_block_plain_ones() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("no-tools", model(slots=1, lacking=NO_TOOLS))
        await h.offer("tools", model(slots=1))
        held = await h.grant(needs={TOOLS})
        assert held.provider_id == "tools"
        results: list = []
        await park(h, nursery, results, "tools", needs={TOOLS}, wait=LONG)
        # the free slot cannot serve the waiter, so a plain Reserve behind it takes it
        plain = await h.grant()
        assert plain.provider_id == "no-tools"
        h.release(plain)
        h.release(held)
        await wait_until(lambda: len(results) == 1, timeout=10)
        assert results[0][1].provider_id == "tools"


async def test_a_waiter_is_refused_when_the_last_capable_provider_leaves() -> None:
    async with running_scheduler() as h, trio.open_nursery() as nursery:
        await h.offer("no-tools", model(slots=1, lacking=NO_TOOLS))
        await h.offer("tools", model(slots=1))
        held = await h.grant(needs={TOOLS})
        results: list = []
        await park(h, nursery, results, "tools", needs={TOOLS}, wait=LONG)
        h.gone(held.provider_id)
        await wait_until(lambda: len(results) == 1, timeout=10)
        assert results[0][1].reason == NoCapacityReason.CAPABILITY
