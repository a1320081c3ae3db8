"""SchedulerActor selection: cost ordering, trust floor, exclusion, tie-break, scale."""

from __future__ import annotations

from collections import Counter

import pytest

from switchyard.actors.scheduler_messages import (
    ModelCapacity,
    NoCapacity,
    Reservation,
)
from switchyard.protocol.vocabulary import Trust

from .sched_harness import running_scheduler


async def test_faster_provider_is_chosen() -> None:
    async with running_scheduler() as h:
        await h.offer("slow", prefill=1000, decode=20, slots=4)
        await h.offer("fast", prefill=4000, decode=100, slots=4)
        await h.offer("mid", prefill=2000, decode=50, slots=4)
        for _ in range(3):
            r = await h.grant()
            assert r.provider_id == "fast"
            h.release(r)


async def test_cost_uses_the_request_shape() -> None:
    # quick_prefill reads prompts fast but decodes slowly; quick_decode the other way round.
    async with running_scheduler() as h:
        await h.offer("quick_prefill", prefill=10_000, decode=20, slots=4)
        await h.offer("quick_decode", prefill=500, decode=25, slots=4)
        long_prompt = await h.grant(prompt=20_000, max_tokens=10)
        long_output = await h.grant(prompt=10, max_tokens=1000)
        assert long_prompt.provider_id == "quick_prefill"
        assert long_output.provider_id == "quick_decode"


async def test_busy_provider_costs_more_so_load_spreads() -> None:
    async with running_scheduler() as h:
        await h.offer("a", slots=4)
        await h.offer("b", slots=4)
        held = [await h.grant() for _ in range(4)]
        assert Counter(r.provider_id for r in held) == {"a": 2, "b": 2}


async def test_trust_penalty_prefers_hardware_at_equal_speed() -> None:
    async with running_scheduler() as h:
        await h.offer("signed", trust="self_signed", slots=2)
        await h.offer("attested", trust="hardware", slots=2)
        r = await h.grant()
        assert r.provider_id == "attested"


async def test_recent_errors_penalise_a_provider() -> None:
    async with running_scheduler() as h:
        await h.offer("flaky", slots=8, decode=60)  # faster while it has no errors
        await h.offer("steady", slots=8)
        first = await h.grant()
        assert first.provider_id == "flaky"
        h.release(first, "cancelled")  # the client left: not the provider's fault
        second = await h.grant()
        assert second.provider_id == "flaky"
        h.release(second, "error")
        for _ in range(3):
            r = await h.grant()
            assert r.provider_id == "steady"
            h.release(r)
        assert (await h.stats())["counters"]["released"] == 5


async def test_hardware_floor_never_gets_self_signed() -> None:
    async with running_scheduler() as h:
        await h.offer("signed", trust="self_signed", slots=10, prefill=9000, decode=200)
        await h.offer("attested", trust="hardware", slots=2)
        await h.offer("untrusted", trust="untrusted", slots=10, prefill=9000, decode=300)
        got = [await h.grant(min_trust="hardware") for _ in range(2)]
        assert {r.provider_id for r in got} == {"attested"}
        third = await h.reserve(min_trust="hardware")
        assert isinstance(third, NoCapacity) and third.reason == "timeout"
        default = await h.grant()  # default floor self_signed: never the untrusted one
        assert default.provider_id == "signed"
        anyone = await h.grant(min_trust="untrusted")
        assert anyone.provider_id == "untrusted"


async def test_untrusted_provider_is_not_used_by_default() -> None:
    async with running_scheduler() as h:
        await h.offer("u", trust="untrusted", slots=3)
        result = await h.reserve()
        assert isinstance(result, NoCapacity)


async def test_exclusion_skips_providers() -> None:
    async with running_scheduler() as h:
        await h.offer("best", prefill=8000, decode=200, slots=4)
        await h.offer("second", prefill=4000, decode=100, slots=4)
        await h.offer("third", slots=4)
        r = await h.grant(exclude={"best"})
        assert r.provider_id == "second"
        r = await h.grant(exclude={"best", "second"})
        assert r.provider_id == "third"
        none = await h.reserve(exclude={"best", "second", "third"})
        assert isinstance(none, NoCapacity)
        # the excluded entries went back into the index
        r = await h.grant()
        assert r.provider_id == "best"


async def test_unknown_model_and_models_query() -> None:
    async with running_scheduler() as h:
        await h.offer("p1", {"a": ModelCapacity(2), "b": ModelCapacity(1)})
        await h.offer("p2", "a", slots=3)
        unknown = await h.reserve(model="nope", wait=30)
        assert unknown == NoCapacity("unknown_model", 0.0, False)
        r = await h.grant(model="a")
        assert await h.models() == {
            "a": {"providers_online": 2, "slots_total": 5, "slots_free": 4},
            "b": {"providers_online": 1, "slots_total": 1, "slots_free": 1},
        }
        h.gone("p1")
        h.release(r)
        assert await h.models() == {"a": {"providers_online": 1, "slots_total": 3, "slots_free": 3}}
        offline = await h.models(include_offline=True)
        assert offline["b"] == {"providers_online": 0, "slots_total": 0, "slots_free": 0}
        # a model once offered stays known: with nobody online it is "offline", at once
        gone_model = await h.reserve(model="b", wait=30)
        assert isinstance(gone_model, NoCapacity) and gone_model.reason == "offline"
        assert (await h.stats())["counters"]["queued"] == 0


async def test_bad_trust_level_is_refused_without_crashing() -> None:
    async with running_scheduler() as h:
        await h.offer("p")
        with pytest.raises(ValueError, match="trust"):
            await h.reserve(min_trust="platinum")
        assert isinstance(await h.reserve(), Reservation)
        assert h.system.snapshot()["totals"]["restarts"] == 0


async def test_unroutable_provider_leaves_index_but_keeps_reservations() -> None:
    async with running_scheduler() as h:
        await h.offer("p", slots=2)
        held = await h.grant()
        await h.offer("p", slots=2, routable=False)
        assert isinstance(await h.reserve(), NoCapacity)
        stats = await h.stats()
        assert stats["reserved_total"] == 1 and stats["providers_indexed"] == 0
        h.release(held)
        await h.offer("p", slots=2, routable=True)
        assert [(await h.grant()).provider_id for _ in range(2)] == ["p", "p"]
        assert (await h.stats())["reserved_total"] == 2


async def test_random_tie_break_spreads_load_across_equal_providers() -> None:
    async with running_scheduler() as h:
        for name in "abcd":
            await h.offer(name, slots=100)
        counts: Counter[str] = Counter()
        for _ in range(400):
            r = await h.grant()
            counts[r.provider_id] += 1
            h.release(r)
        assert set(counts) == set("abcd")
        assert min(counts.values()) >= 40, counts


async def test_ten_thousand_providers() -> None:
    async with running_scheduler() as h:
        for i in range(10_000):
            trust = "hardware" if i % 10 == 0 else "self_signed"
            await h.offer(f"p{i}", slots=2, prefill=2000 + i % 7, decode=50 + i % 5, trust=trust)
        await h.offer("champion", slots=1, prefill=50_000, decode=500, trust="hardware")
        assert (await h.models())["m"]["providers_online"] == 10_001
        assert (await h.grant()).provider_id == "champion"
        held = [await h.grant(min_trust="hardware") for _ in range(500)]
        assert all(int(r.provider_id[1:]) % 10 == 0 for r in held)
        for r in held:
            h.release(r)
        stats = await h.stats()
        assert stats["providers_indexed"] == 10_001
        assert stats["reserved_total"] == 1


def test_trust_parse_and_order() -> None:
    assert Trust.UNTRUSTED < Trust.SELF_SIGNED < Trust.HARDWARE
    assert [str(t) for t in Trust] == ["untrusted", "self_signed", "hardware"]
    assert Trust.parse("hardware") is Trust.HARDWARE
    assert Trust.parse(Trust.SELF_SIGNED) is Trust.SELF_SIGNED
    with pytest.raises(ValueError):
        Trust.parse("root")
