"""Requests that can never be served are answered at once, with a status SDKs retry or not.

The queue deadline here is 60 s, so a request that waited for it would trip the tests'
10 s bound: a known model (priced, or served recently) with nobody online is 503
`no_capacity` with `Retry-After`, not 404; a trust floor nobody online meets is 503 naming
it; a model whose only provider fails every request ends with that provider's error.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import openai
import pytest
import trio

from ..polling import wait_until
from .harness import (
    Running,
    coordinator,
    fast_settings,
    funded_key,
    no_slots_reserved,
    online_provider,
    scheduler_stats,
)
from .test_billing_e2e import PRICE, store_for

BODY = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}
SETTINGS = replace(fast_settings(), reserve_timeout_s=60.0)


async def no_open_holds(running: Running, account_id: str) -> bool:
    account = (await running.admin.get(f"/admin/accounts/{account_id}")).json()
    return account["open_holds"] == 0


async def post(running: Running, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    """POST a chat completion; it must be answered well before the 60 s queue deadline."""
    headers["Authorization"] = f"Bearer {key}"
    async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
        with trio.fail_after(10):
            return await client.post("/v1/chat/completions", json=body, timeout=10)


async def test_priced_model_with_nobody_online_is_503_not_404(
    store_target: tuple[str | None, str | None],
) -> None:
    async with store_for(store_target) as store, coordinator(SETTINGS, store) as running:
        await running.admin.put("/admin/pricing/m1", json=PRICE)
        account_id, key = await funded_key(running)
        for stream in (False, True):
            response = await post(running, key, {**BODY, "stream": stream})
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "no_capacity"
            assert float(response.headers["Retry-After"]) >= 1
        unknown = await post(running, key, {**BODY, "model": "never-heard-of-it"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "model_not_found"
        await wait_until(lambda: no_open_holds(running, account_id))
        # the SDK sees a retryable server error, not NotFoundError
        client = openai.AsyncOpenAI(base_url=running.base_url + "/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="m1", messages=BODY["messages"])
        assert caught.value.status_code == 503
        await client.close()


async def test_recently_served_model_is_503_after_its_provider_leaves() -> None:
    async with coordinator(SETTINGS) as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with online_provider(running, token):
            pass  # registered m1, then went away

        async def nobody_left() -> bool:
            return (await scheduler_stats(running))["providers_known"] == 0

        await wait_until(nobody_left)
        response = await post(running, key, BODY)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "no_capacity" and "online" in error["message"]
        assert "Retry-After" in response.headers


async def test_trust_floor_nobody_online_meets_is_503_at_once() -> None:
    async with coordinator(SETTINGS) as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with online_provider(running, token):
            response = await post(running, key, BODY, **{"X-Switchyard-Min-Trust": "hardware"})
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["code"] == "no_capacity" and "hardware" in error["message"]
            assert "Retry-After" in response.headers
            stats = await scheduler_stats(running)
            assert stats["counters"]["queued"] == 0
            assert stats["counters"]["refused_trust"] == 1


async def test_only_provider_failing_every_request_gives_its_error_at_once() -> None:
    async with coordinator(SETTINGS) as running:
        _, token = await running.provider_token()
        account_id, key = await funded_key(running)
        async with online_provider(running, token) as p, trio.open_nursery() as nursery:
            failed: list[str] = []

            async def fail_everything() -> None:
                while True:
                    rid = (await p.recv_type("inference_request", timeout=30))["request_id"]
                    failed.append(rid)
                    await p.send({"type": "error", "request_id": rid, "code": "backend_down",
                                  "message": "upstream refused", "retryable": True})  # fmt: skip

            nursery.start_soon(fail_everything)
            for stream in (False, True):
                response = await post(running, key, {**BODY, "stream": stream})
                assert response.status_code == 502, response.text
                error = response.json()["error"]
                assert error["code"] == "provider_error"
                assert "upstream refused" in error["message"]
            assert len(failed) == 2  # one attempt each: nobody else to retry on
            stats = await scheduler_stats(running)
            assert stats["counters"]["queued"] == 0
            assert stats["counters"]["refused_excluded"] == 2
            nursery.cancel_scope.cancel()
        await wait_until(lambda: no_slots_reserved(running))
        await wait_until(lambda: no_open_holds(running, account_id))
