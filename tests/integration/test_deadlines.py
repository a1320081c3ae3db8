"""Request deadlines: a provider that stalls is cancelled and the consumer told, slot freed.

The provider actor owns each request's deadline and checks it on every heartbeat tick, so
these tests use a short request timeout and a provider that keeps heartbeating but stops
producing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import trio

from ..polling import wait_until
from .harness import (
    RawProvider,
    Running,
    coordinator,
    fast_settings,
    funded_key,
    no_slots_reserved,
    online_provider,
)

BODY = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}


@asynccontextmanager
async def stalling_provider() -> AsyncIterator[tuple[Running, RawProvider, dict[str, str]]]:
    """A coordinator with a 1 s request deadline, a provider that heartbeats but never
    finishes anything by itself, and the headers of a funded API key."""
    settings = replace(fast_settings(), request_timeout_s=1.0)
    async with coordinator(settings) as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with online_provider(running, token) as p, trio.open_nursery() as nursery:
            nursery.start_soon(_heartbeats, p)
            yield running, p, {"Authorization": f"Bearer {key}"}
            await wait_until(lambda: no_slots_reserved(running))
            nursery.cancel_scope.cancel()


async def _heartbeats(p: RawProvider) -> None:
    while True:
        await p.heartbeat()
        await trio.sleep(0.2)


async def test_no_token_before_the_deadline_is_a_504_and_cancels_the_provider() -> None:
    async with stalling_provider() as (running, p, headers):
        async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
            with trio.fail_after(10):
                response = await client.post("/v1/chat/completions", json=BODY, timeout=10)
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "timeout"
        request = await p.recv_type("inference_request")
        cancel = await p.recv_type("cancel")
        assert cancel["request_id"] == request["request_id"]


async def test_a_stream_that_stalls_ends_with_an_error_event_at_the_deadline() -> None:
    async with stalling_provider() as (running, p, headers):
        lines: list[str] = []

        async def consumer() -> None:
            async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
                body = {**BODY, "stream": True}
                async with c.stream("POST", "/v1/chat/completions", json=body) as response:
                    assert response.status_code == 200
                    lines.extend([line async for line in response.aiter_lines() if line])

        with trio.fail_after(10):
            async with trio.open_nursery() as inner:
                inner.start_soon(consumer)
                rid = (await p.recv_type("inference_request"))["request_id"]
                await p.send({"type": "chunk", "request_id": rid, "deltas": [{"content": "tick"}]})
                cancel = await p.recv_type("cancel")  # ... and nothing more from us
                assert cancel["request_id"] == rid
        events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
        assert lines[-1] == "data: [DONE]"
        text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
        assert text == "tick"
        assert "deadline" in events[-1]["error"]["message"]
