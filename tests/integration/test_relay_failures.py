"""Disconnects, provider failures and chaos: every exit path releases its slot once."""

from __future__ import annotations

import json
import random

import httpx
import openai
import trio

from switchyard.actors.provider_messages import Disconnect
from switchyard.agent.simulated import SimulatedConfig, simulated_text

from ..polling import wait_until
from .harness import (
    agents,
    coordinator,
    funded_key,
    no_slots_reserved,
    online_provider,
)

BODY = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def test_client_disconnect_mid_stream_cancels_provider_and_frees_slot() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with online_provider(running, token) as p:
            headers = {"Authorization": f"Bearer {key}"}
            got_first = trio.Event()

            async def consumer() -> None:
                async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
                    async with c.stream("POST", "/v1/chat/completions", json=BODY) as response:
                        first = await anext(response.aiter_lines())
                        assert first.startswith("data: ")
                        got_first.set()
                # Leaving the block drops the connection mid-stream.

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consumer)
                request = await p.recv_type("inference_request")
                rid = request["request_id"]
                await p.send({"type": "chunk", "request_id": rid, "deltas": [{"content": "a"}]})
                await got_first.wait()
            # The client is gone: the provider is told to stop and the slot is free.
            cancel = await p.recv_type("cancel")
            assert cancel["request_id"] == rid
            await wait_until(lambda: no_slots_reserved(running))
            # A late chunk for the cancelled request is dropped, not a protocol error.
            await p.send({"type": "chunk", "request_id": rid, "deltas": [{"content": "b"}]})
            await p.heartbeat()
            assert (await running.provider(p.provider_id))["status"] == "online"


async def test_non_streaming_client_disconnect_cancels_too() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with online_provider(running, token) as p:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
                with trio.move_on_after(0.5):
                    await client.post("/v1/chat/completions", json={**BODY, "stream": False})
            request = await p.recv_type("inference_request")
            cancel = await p.recv_type("cancel")
            assert cancel["request_id"] == request["request_id"]
            await wait_until(lambda: no_slots_reserved(running))


async def test_failure_before_first_token_retries_elsewhere_with_fresh_id() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with (
            online_provider(running, token) as a,
            online_provider(running, token) as b,
        ):
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
                results: list[httpx.Response] = []

                async def consume() -> None:
                    body = {**BODY, "stream": False}
                    results.append(await client.post("/v1/chat/completions", json=body))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(consume)
                    first, second = await _serve_failover(a, b)
            assert first != second
            reply = results[0].json()
            assert results[0].status_code == 200
            assert reply["choices"][0]["message"]["content"] == "ok"
            await wait_until(lambda: no_slots_reserved(running))


async def _serve_failover(a, b) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Whichever provider gets the request fails it retryably; the other completes it."""
    got: dict[str, tuple[object, dict]] = {}

    async def watch(p) -> None:  # type: ignore[no-untyped-def]
        got[p.provider_id] = (p, await p.recv_type("inference_request", timeout=10))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, a)
            nursery.start_soon(watch, b)
            await wait_until(lambda: got, timeout=10)
            ((p1, r1),) = got.values()
            await p1.send({"type": "error", "request_id": r1["request_id"], "code": "oom",
                           "message": "out of memory", "retryable": True})  # fmt: skip
            await wait_until(lambda: len(got) == 2, timeout=10)
            p2, r2 = next(v for k, v in got.items() if v[0] is not p1)
            rid = r2["request_id"]
            await p2.send({"type": "chunk", "request_id": rid, "deltas": [{"content": "ok"}]})
            await p2.send({"type": "complete", "request_id": rid, "finish_reason": "stop",
                           "usage": {"prompt_tokens": 3, "completion_tokens": 1}})  # fmt: skip
            # A late frame from the abandoned attempt is dropped silently.
            await p1.send({"type": "chunk", "request_id": r1["request_id"],
                           "deltas": [{"content": "zombie"}]})  # fmt: skip
    return r1["request_id"], r2["request_id"]


async def test_failure_after_first_token_is_an_error_event() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with online_provider(running, token) as p:
            headers = {"Authorization": f"Bearer {key}"}
            events: list[str] = []

            async def consumer() -> None:
                async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
                    async with c.stream("POST", "/v1/chat/completions", json=BODY) as response:
                        events.extend([line async for line in response.aiter_lines() if line])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consumer)
                rid = (await p.recv_type("inference_request"))["request_id"]
                await p.send({"type": "chunk", "request_id": rid, "deltas": [{"content": "a"}]})
                await p.send({"type": "error", "request_id": rid, "code": "crash",
                              "message": "gpu fell off", "retryable": True})  # fmt: skip
            assert events[-1] == "data: [DONE]"
            assert events.count("data: [DONE]") == 1
            error = json.loads(events[-2].removeprefix("data: "))
            assert "gpu fell off" in error["error"]["message"]
            await wait_until(lambda: no_slots_reserved(running))


async def test_chaos_streams_while_providers_die_and_actors_crash() -> None:
    sim = SimulatedConfig(ttft_s=0.01, tokens_per_s=400.0, output_tokens=20)
    expected = simulated_text(20)
    async with coordinator() as running, agents(running, 4, sim, slots=64) as fleet:
        _, key = await funded_key(running)
        client = openai.AsyncOpenAI(
            base_url=running.base_url + "/v1", api_key=key, max_retries=0, timeout=30
        )
        outcomes = {"complete": 0, "error": 0}
        rng = random.Random(7)

        async def one() -> None:
            try:
                stream = await client.chat.completions.create(
                    model="sim-small",
                    messages=[{"role": "user", "content": "go"}],
                    stream=True,
                )
                text = ""
                async for chunk in stream:
                    if chunk.choices:
                        text += chunk.choices[0].delta.content or ""
                assert text == expected
                outcomes["complete"] += 1
            except openai.APIError:
                outcomes["error"] += 1

        async def chaos(done: trio.Event) -> None:
            while not done.is_set():
                await trio.sleep(0.05)
                providers = await running.providers()
                if not providers:
                    continue
                victim = rng.choice(providers)["id"]
                try:
                    ref = running.coord.system.lookup(f"/root/providers/{victim}")
                except LookupError:
                    continue
                if rng.random() < 0.5:
                    ref.tell(object())  # crash the actor: restart, in-flight fail retryably
                else:
                    ref.tell(Disconnect(4000, "chaos"))  # drop the socket: agent reconnects

        with trio.fail_after(90):
            done = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(chaos, done)
                async with trio.open_nursery() as clients:
                    for _ in range(200):
                        clients.start_soon(one)
                done.set()
        await client.close()
        assert outcomes["complete"] + outcomes["error"] == 200
        assert outcomes["complete"] > 0
        await wait_until(lambda: no_slots_reserved(running), timeout=10)
        assert len(fleet.agents) == 4


async def test_actor_crash_mid_request_retries_and_late_frames_are_dropped() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with online_provider(running, token) as a, online_provider(running, token) as b:
            headers = {"Authorization": f"Bearer {key}"}
            results: list[httpx.Response] = []

            async def consume() -> None:
                async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
                    body = {**BODY, "stream": False}
                    results.append(await c.post("/v1/chat/completions", json=body, timeout=20))

            got: dict[str, tuple[object, dict]] = {}

            async def watch(p) -> None:  # type: ignore[no-untyped-def]
                got[p.provider_id] = (p, await p.recv_type("inference_request", timeout=10))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                async with trio.open_nursery() as watchers:
                    watchers.start_soon(watch, a)
                    watchers.start_soon(watch, b)
                    await wait_until(lambda: got, timeout=10)
                    ((first_p, first),) = got.values()
                    victim = running.coord.system.lookup(f"/root/providers/{first_p.provider_id}")
                    victim.tell(object())  # its actor crashes with the request in flight
                    await first_p.recv_type("resync")
                    # Sent before the agent acted on resync: dropped, not a protocol error.
                    rid = first["request_id"]
                    await first_p.send({"type": "chunk", "request_id": rid,
                                        "deltas": [{"content": "x"}]})  # fmt: skip
                    await first_p.heartbeat()
                    await first_p.pass_challenge()  # the new instance re-challenges
                    await wait_until(lambda: len(got) == 2, timeout=10)
                other_p, retry = next(v for v in got.values() if v[0] is not first_p)
                rid = retry["request_id"]
                await other_p.send({"type": "chunk", "request_id": rid,
                                    "deltas": [{"content": "ok"}]})  # fmt: skip
                usage = {"prompt_tokens": 2, "completion_tokens": 1}
                await other_p.send({"type": "complete", "request_id": rid,
                                    "finish_reason": "stop", "usage": usage})  # fmt: skip
            assert results[0].status_code == 200
            assert results[0].json()["choices"][0]["message"]["content"] == "ok"
            await wait_until(lambda: _online(running, first_p.provider_id))
            await wait_until(lambda: no_slots_reserved(running))


async def _online(running, provider_id: str) -> bool:  # type: ignore[no-untyped-def]
    info = await running.provider(provider_id)
    return bool(info and info["status"] == "online")
