"""ActivityStore and DeviceCodeStore conformance, on both stores: usage per day and model,
earnings per node and day, open holds, nodes, public totals, the leaderboard opt-in, and
device codes (pending, slow_down, approval minting one token, denial, expiry)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import trio

from switchyard.storage import InvalidInput, Store, UsageRecord
from switchyard.storage.activity import EarningDay, ServedTokens, UsageDay
from switchyard.storage.device_codes import DeviceCodeRefused, PollStatus, TooManyDeviceCodes
from switchyard.storage.errors import Conflict, UnknownAccount, UnknownProvider
from switchyard.storage.models import utc_now

from .helpers import funded

NEUTRAL = ("ok", "cancelled", "rejected")
DAY1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


def usage(request_id: str, account_id: str, provider: str | None, model: str, at: datetime,
          outcome: str = "ok", prompt: int = 10, completion: int = 5) -> UsageRecord:  # fmt: skip
    return UsageRecord(
        request_id, account_id, None, provider, model, prompt, completion, 0, 1, 2, outcome, at
    )


async def settled(
    store: Store, consumer: str, owner: str, provider: str, request_id: str, at: datetime,
    cost: int, earning: int, outcome: str = "ok", model: str = "m1",
) -> None:  # fmt: skip
    await store.create_hold(consumer, request_id, cost)
    row = usage(request_id, consumer, provider, model, at, outcome)
    await store.settle_hold(request_id, cost, owner, earning, row)


async def test_usage_and_earnings_per_day(store: Store) -> None:
    consumer = await funded(store, "consumer", 10_000)
    owner = await store.create_account("owner")
    other = await store.create_account("other-owner")
    await store.upsert_provider("prov-a", owner.id, "pk-a", "self_signed")
    await store.upsert_provider("prov-b", owner.id, "pk-b", "self_signed")
    await store.upsert_provider("prov-x", other.id, "pk-x", "self_signed")
    await settled(store, consumer.id, owner.id, "prov-a", "r1", DAY1, 100, 90)
    await settled(store, consumer.id, owner.id, "prov-a", "r2", DAY1, 50, 45, model="m2")
    await settled(store, consumer.id, owner.id, "prov-b", "r3", DAY2, 20, 18, outcome="error")
    await settled(store, consumer.id, other.id, "prov-x", "r4", DAY2, 30, 27)
    await store.record_usage([usage("r5", consumer.id, None, "m1", DAY2, "error")])
    await store.record_usage([usage("r6", consumer.id, "prov-a", "m1", DAY2 + timedelta(days=5))])

    since, until = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    days = await store.usage_by_day(consumer.id, since, until)
    assert days == [
        UsageDay(date(2026, 3, 1), "m1", 1, 10, 5, 100),
        UsageDay(date(2026, 3, 1), "m2", 1, 10, 5, 50),
        UsageDay(date(2026, 3, 2), "m1", 3, 30, 15, 50),
    ]
    assert await store.usage_by_day(owner.id, since, until) == []
    earnings = await store.earnings_by_day(owner.id, since, until, NEUTRAL)
    assert earnings == [
        EarningDay(date(2026, 3, 1), "prov-a", 2, 0, 30, 135),
        EarningDay(date(2026, 3, 2), "prov-b", 1, 1, 15, 18),
    ]
    assert await store.earnings_by_day(other.id, since, until, NEUTRAL) == [
        EarningDay(date(2026, 3, 2), "prov-x", 1, 0, 15, 27)
    ]
    assert await store.earnings_by_day(consumer.id, since, until, NEUTRAL) == []
    with pytest.raises(InvalidInput):
        await store.usage_by_day(consumer.id, until, since)
    with pytest.raises(UnknownAccount):
        await store.usage_by_day("acct_missing", since, until)
    with pytest.raises(UnknownAccount):
        await store.earnings_by_day("acct_missing", since, until, NEUTRAL)


async def test_open_holds_nodes_totals_and_leaderboard(store: Store) -> None:
    consumer = await funded(store, "consumer", 10_000)
    owner = await store.create_account("owner")
    await store.create_hold(consumer.id, "open-1", 10)
    await store.create_hold(consumer.id, "open-2", 20)
    await store.create_hold(consumer.id, "closed", 5)
    await store.release_hold("closed")
    assert [h.request_id for h in await store.open_holds_of(consumer.id)] == ["open-1", "open-2"]
    assert [h.request_id for h in await store.open_holds_of(consumer.id, 1)] == ["open-1"]
    assert await store.open_holds_of(owner.id) == []

    await store.upsert_provider("prov-a", owner.id, "pk-a", "self_signed")
    await store.upsert_provider("prov-b", owner.id, "pk-b", "self_signed")
    assert [p.id for p in await store.providers_of(owner.id)] == ["prov-a", "prov-b"]
    assert await store.providers_of(consumer.id) == []

    now = utc_now()
    await settled(store, consumer.id, owner.id, "prov-a", "r1", now, 10, 9)
    await settled(store, consumer.id, owner.id, "prov-b", "r2", now, 10, 9)
    await settled(store, consumer.id, owner.id, "prov-b", "r3", now, 10, 9)
    await store.record_usage([usage("old", consumer.id, "prov-a", "m1", now - timedelta(days=3))])
    start = now - timedelta(hours=1)
    assert await store.served_tokens_since(start) == 45
    assert await store.leaderboard(start, 10) == []  # nobody opted in
    await store.set_leaderboard_listing("prov-a", True)
    await store.set_leaderboard_listing("prov-b", True)
    assert await store.listed_providers(["prov-a", "prov-b", "prov-z"]) == {"prov-a", "prov-b"}
    assert await store.leaderboard(start, 10) == [
        ServedTokens("prov-b", 30),
        ServedTokens("prov-a", 15),
    ]
    assert await store.leaderboard(start, 1) == [ServedTokens("prov-b", 30)]
    await store.set_leaderboard_listing("prov-b", False)
    assert await store.leaderboard(start, 10) == [ServedTokens("prov-a", 15)]
    assert await store.listed_providers([]) == set()
    with pytest.raises(UnknownProvider):
        await store.set_leaderboard_listing("prov-missing", True)


async def test_device_code_pending_slow_down_approve_once(store: Store) -> None:
    owner = await store.create_account("owner")
    expires = utc_now() + timedelta(minutes=10)
    record, raw = await store.create_device_code("gpu-box", "BCDF-GHJK", expires, 5, 100)
    assert raw.startswith("dc-sy-") and record.user_code == "BCDF-GHJK"
    assert (await store.get_device_code("BCDF-GHJK")) == record
    assert await store.get_device_code("ZZZZ-ZZZZ") is None
    with pytest.raises(Conflict):
        await store.create_device_code("dup", "BCDF-GHJK", expires, 5, 100)

    t0 = utc_now()
    first = await store.poll_device_code(raw, t0)
    assert first.status is PollStatus.PENDING and first.token is None
    fast = await store.poll_device_code(raw, t0 + timedelta(seconds=1))
    assert fast.status is PollStatus.SLOW_DOWN and fast.record is not None
    assert fast.record.interval_s == 10  # each slow_down adds 5 s
    later = t0 + timedelta(seconds=12)
    assert (await store.poll_device_code(raw, later)).status is PollStatus.PENDING

    decided = await store.decide_device_code("BCDF-GHJK", owner.id, True, utc_now())
    assert decided.approved_by == owner.id and decided.decided_at is not None
    with pytest.raises(DeviceCodeRefused, match="already"):
        await store.decide_device_code("BCDF-GHJK", owner.id, False, utc_now())

    polls = []

    async def poll() -> None:
        polls.append(await store.poll_device_code(raw, later + timedelta(seconds=30)))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(poll)
    approved = [p for p in polls if p.status is PollStatus.APPROVED]
    assert len(approved) == 1 and approved[0].token is not None
    assert {p.status for p in polls} <= {PollStatus.APPROVED, PollStatus.USED}
    token = await store.lookup_provider_token(approved[0].token)
    assert token is not None and token.account_id == owner.id and token.name == "gpu-box"
    again = await store.poll_device_code(raw, later + timedelta(seconds=60))
    assert again.status is PollStatus.USED and again.token is None
    assert (await store.poll_device_code("dc-sy-bogus", utc_now())).status is PollStatus.UNKNOWN
    assert (await store.poll_device_code("x" * 900, utc_now())).status is PollStatus.UNKNOWN


async def test_device_code_denied_expired_and_capped(store: Store) -> None:
    owner = await store.create_account("owner")
    soon = utc_now() + timedelta(minutes=10)
    _, denied_raw = await store.create_device_code("a", "AAAA-AAAA", soon, 5, 3)
    await store.decide_device_code("AAAA-AAAA", owner.id, False, utc_now())
    assert (await store.poll_device_code(denied_raw, utc_now())).status is PollStatus.DENIED

    _, expiring = await store.create_device_code("b", "BBBB-BBBB", soon, 5, 3)
    after = soon + timedelta(seconds=1)
    assert (await store.poll_device_code(expiring, after)).status is PollStatus.EXPIRED
    with pytest.raises(DeviceCodeRefused, match="expired"):
        await store.decide_device_code("BBBB-BBBB", owner.id, True, after)
    with pytest.raises(DeviceCodeRefused, match="unknown"):
        await store.decide_device_code("CCCC-CCCC", owner.id, True, utc_now())

    await store.create_device_code("c", "DDDD-DDDD", soon, 5, 3)
    await store.create_device_code("d", "EEEE-EEEE", soon, 5, 3)  # 3 pending: BBBB, DDDD, EEEE
    with pytest.raises(TooManyDeviceCodes):
        await store.create_device_code("e", "FFFF-FFFF", soon, 5, 3)
