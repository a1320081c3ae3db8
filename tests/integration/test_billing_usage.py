"""Usage rows and what is charged: bounded reports, delivered output only, both stores.

A hand-driven provider (`RawProvider`) sends exactly the frames each case needs; money is
read back through the admin API, `/v1/account` and the store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

from switchyard.actors.billing_messages import Settle
from switchyard.storage import open_store

from ..polling import wait_until
from .harness import Running, coordinator, fast_settings, funded_key, online_provider

PRICE = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 2_000_000}
MESSAGES = [{"role": "user", "content": "count for me please"}]
FUNDS = 1_000_000


@asynccontextmanager
async def running_on(target: tuple[str | None, str | None]) -> AsyncIterator[Running]:
    url, schema = target
    async with open_store(url, schema=schema) as store, coordinator(fast_settings(), store) as r:
        await r.admin.put("/admin/pricing/m1", json=PRICE)
        yield r


async def post(running: Running, key: str, **body: Any) -> httpx.Response:
    payload = {"model": "m1", "messages": MESSAGES, "max_tokens": 100, **body}
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as c:
        if not body.get("stream"):
            return await c.post(
                "/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {key}"}
            )
        async with c.stream(
            "POST", "/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            await response.aread()
            return response


async def settled_usage(running: Running, account_id: str, rows: int = 1) -> list[dict]:
    """The account's usage rows once no hold is open and `rows` rows are written."""

    async def ready() -> list[dict] | None:
        acct = (await running.admin.get(f"/admin/accounts/{account_id}")).json()
        usage = await running.coord.store.recent_usage(account_id)
        if acct["open_holds"] or len(usage) < rows:
            return None
        return [
            {"completion": u.completion_tokens, "prompt": u.prompt_tokens,
             "cost": u.cost_micro_usd, "outcome": u.outcome}
            for u in usage
        ]  # fmt: skip

    return await wait_until(ready, timeout=5)


async def balance(running: Running, account_id: str) -> int:
    return (await running.admin.get(f"/admin/accounts/{account_id}")).json()["balance_micro_usd"]


async def mismatches(running: Running) -> float:
    async with httpx.AsyncClient(base_url=running.base_url) as c:
        text = (await c.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("switchyard_usage_report_mismatch_total "):
            return float(line.split()[1])
    raise AssertionError("no switchyard_usage_report_mismatch_total in /metrics")


def complete(request_id: str, prompt: int, completion: int) -> dict[str, Any]:
    return {"type": "complete", "request_id": request_id, "finish_reason": "stop",
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}  # fmt: skip


# -- #6: usage numbers are bounded at the wire; one bad row never drops another --------------


async def test_an_unstorable_usage_report_is_refused_and_drops_no_other_row(
    store_target: tuple[str | None, str | None],
) -> None:
    async with running_on(store_target) as running:
        _, token = await running.provider_token()
        good_id, good_key = await funded_key(running, FUNDS)
        bad_id, bad_key = await funded_key(running, FUNDS)
        async with online_provider(running, token, models=[{"id": "m1", "slots": 2}]) as p:
            answers: dict[str, httpx.Response] = {}

            async def ask(name: str, key: str) -> None:
                answers[name] = await post(running, key)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask, "good", good_key)
                good_rid = (await p.recv_type("inference_request"))["request_id"]
                nursery.start_soon(ask, "bad", bad_key)
                bad_rid = (await p.recv_type("inference_request"))["request_id"]
                for rid in (good_rid, bad_rid):
                    await p.send({"type": "chunk", "request_id": rid,
                                  "deltas": [{"content": "hi"}]})  # fmt: skip
                await p.send(complete(good_rid, 5, 1))
                await p.send(complete(bad_rid, 2**53, 1))  # what no usage row can hold
                code, error = await p.closed_with()
            assert code == 4004 and error is not None and "prompt_tokens" in error["message"]
        assert answers["good"].status_code == 200
        assert answers["bad"].status_code == 502
        # The answers go out before the billing actor has closed their holds.
        await wait_until(lambda: _no_open_holds(running), timeout=5)
        assert await settled_usage(running, good_id) == [
            {"completion": 1, "prompt": 5, "cost": 5 + 2, "outcome": "ok"}
        ]
        assert await balance(running, good_id) == FUNDS - 7
        assert await balance(running, bad_id) == FUNDS  # a 502 delivered nothing
        assert await running.coord.store.list_open_holds() == []
        assert await running.coord.store.ledger_mismatches() == []


async def test_the_billing_actor_writes_every_row_even_beside_an_unstorable_one(
    store_target: tuple[str | None, str | None],
) -> None:
    """Past the wire too: a count beyond what the store holds is clamped, not a lost batch."""
    async with running_on(store_target) as running:
        store = running.coord.store
        account_id, _ = await funded_key(running, FUNDS)
        for request_id, prompt in (("bill_huge", 10**15), ("bill_fine", 3)):
            await store.create_hold(account_id, request_id, 1_000)
            running.coord.billing.tell(
                Settle(
                    request_id=request_id, account_id=account_id, api_key_id=None,
                    model="m1", provider_id=None, prompt_tokens_est=3, relayed_tokens=1,
                    reported_prompt_tokens=prompt, reported_completion_tokens=1,
                    outcome="ok", ttft_ms=1, duration_ms=2,
                )
            )  # fmt: skip
        rows = await settled_usage(running, account_id, rows=2)
        assert sorted((r["prompt"], r["cost"]) for r in rows) == [(3, 3 + 2), (10**12, 1_000)]
        assert await balance(running, account_id) == FUNDS - 1_005
        assert await store.ledger_mismatches() == []


# -- #8: charge only for output the consumer received -------------------------------------


async def test_a_non_stream_request_that_fails_with_502_is_not_charged() -> None:
    async with running_on((None, None)) as running:
        _, token = await running.provider_token()
        account_id, key = await funded_key(running, FUNDS)
        async with online_provider(running, token) as p:
            async with trio.open_nursery() as nursery:
                answer: list[httpx.Response] = []

                async def ask() -> None:
                    answer.append(await post(running, key))

                nursery.start_soon(ask)
                rid = (await p.recv_type("inference_request"))["request_id"]
                deltas = [{"content": f"t{i} "} for i in range(50)]
                await p.send({"type": "chunk", "request_id": rid, "deltas": deltas})
                await p.send({"type": "error", "request_id": rid, "code": "backend_error",
                              "message": "gpu fell over", "retryable": False})  # fmt: skip
        assert answer[0].status_code == 502
        assert "t0" not in answer[0].text
        [row] = await settled_usage(running, account_id)
        assert (row["cost"], row["completion"], row["outcome"]) == (0, 0, "http_502")
        assert await balance(running, account_id) == FUNDS
        assert await running.coord.store.ledger_mismatches() == []


async def _one_token_and_empty_deltas(running: Running, key: str, end: dict | None) -> str:
    """A stream of 1 visible token and 2,000 empty deltas, then `end` (or an error frame)."""
    _, token = await running.provider_token()
    async with online_provider(running, token) as p:
        async with trio.open_nursery() as nursery:
            answer: list[httpx.Response] = []

            async def ask() -> None:
                answer.append(await post(running, key, stream=True))

            nursery.start_soon(ask)
            rid = (await p.recv_type("inference_request"))["request_id"]
            deltas = [{"role": "assistant"}, {"content": "one"}] + [{"content": ""}] * 2000
            await p.send({"type": "chunk", "request_id": rid, "deltas": deltas})
            if end is None:
                await p.send({"type": "error", "request_id": rid, "code": "backend_error",
                              "message": "gone", "retryable": False})  # fmt: skip
            else:
                await p.send({**end, "request_id": rid})
    contents = []
    for line in answer[0].text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                contents.append(choice.get("delta", {}).get("content") or "")
    return "".join(contents)


async def test_empty_deltas_are_not_tokens() -> None:
    async with running_on((None, None)) as running:
        account_id, key = await funded_key(running, FUNDS)
        before = await mismatches(running)
        assert await _one_token_and_empty_deltas(running, key, None) == "one"
        [row] = await settled_usage(running, account_id)
        assert row["completion"] == 1  # charged for the one visible token, no report
        assert row["cost"] == row["prompt"] * 1 + 1 * 2
        assert await balance(running, account_id) == FUNDS - row["cost"]
        assert await mismatches(running) == before


async def test_a_report_far_above_the_relayed_tokens_is_flagged_and_capped() -> None:
    async with running_on((None, None)) as running:
        account_id, key = await funded_key(running, FUNDS)
        before = await mismatches(running)
        report = complete("", 7, 2001)
        assert await _one_token_and_empty_deltas(running, key, report) == "one"
        [row] = await settled_usage(running, account_id)
        # 1 relayed token allows at most 1 * 1.1 + 16 = 17 tokens, whatever the report says.
        assert (row["prompt"], row["completion"], row["cost"]) == (7, 17, 7 + 17 * 2)
        assert await balance(running, account_id) == FUNDS - row["cost"]
        assert await mismatches(running) == before + 1


async def _no_open_holds(running: Running) -> bool:
    return await running.coord.store.list_open_holds() == []
