"""Operations: rate limits, metrics, health and request hardening over real sockets."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from switchyard.agent.simulated import SimulatedConfig
from switchyard.storage import KeyLimits

from .harness import (
    agents,
    coordinator,
    fast_settings,
    funded_key,
    online_provider,
)

SIM = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=8)
BODY = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


async def _key_id(running, key: str) -> str:  # type: ignore[no-untyped-def]
    record = await running.coord.store.lookup_api_key(key)
    return record.id


async def test_requests_per_minute_limit_bites_exactly() -> None:
    async with coordinator() as running, agents(running, 1, SIM):
        _, key = await funded_key(running)
        key_id = await _key_id(running, key)
        r = await running.admin.put(f"/admin/keys/{key_id}/limits", json={"rpm": 3})
        assert r.json() == {"id": key_id, "rpm": 3, "tpm": None}
        assert (await running.admin.get(f"/admin/keys/{key_id}/limits")).json()["rpm"] == 3
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
            statuses = [
                (await client.post("/v1/chat/completions", json=BODY)).status_code for _ in range(3)
            ]
            assert statuses == [200, 200, 200]
            refused = await client.post("/v1/chat/completions", json=BODY)
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert (
                refused.json()["error"]["type"] == "rate_limit_error"
                or refused.json()["error"]["code"]
            )


async def test_tokens_per_minute_limit_bites_exactly() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        from switchyard.inference.job import estimate_prompt_tokens

        body = {**BODY, "model": "m1", "max_tokens": 20}
        per_request = estimate_prompt_tokens(body) + 20
        limits = KeyLimits(tpm=3 * per_request)
        await running.coord.store.set_api_key_limits(await _key_id(running, key), limits)
        headers = {"Authorization": f"Bearer {key}"}
        async with online_provider(running, token, models=[{"id": "m1", "slots": 8}]) as p:
            results: list[int] = []
            async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:

                async def one() -> None:
                    r = await client.post("/v1/chat/completions", json=body, timeout=10)
                    results.append(r.status_code)

                async with trio.open_nursery() as nursery:
                    for _ in range(3):
                        nursery.start_soon(one)
                    held = [await p.recv_type("inference_request") for _ in range(3)]
                    # Three requests hold the whole token budget: the fourth is refused now.
                    fourth = await client.post("/v1/chat/completions", json=body)
                    assert fourth.status_code == 429
                    for request in held:
                        rid = request["request_id"]
                        await p.send({"type": "complete", "request_id": rid, "finish_reason":
                                      "stop", "usage": {"prompt_tokens": 1,
                                                        "completion_tokens": 0}})  # fmt: skip
            assert results == [200, 200, 200]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _total(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return sum(
        v for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    )  # fmt: skip


async def test_metrics_parse_and_move_with_traffic() -> None:
    async with coordinator() as running, agents(running, 2, SIM):
        _, key = await funded_key(running)
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            before = _samples((await client.get("/metrics")).text)
            headers = {"Authorization": f"Bearer {key}"}
            for stream in (False, True):
                r = await client.post(
                    "/v1/chat/completions", json={**BODY, "stream": stream}, headers=headers
                )
                assert r.status_code == 200
            await client.post("/v1/chat/completions", json={"model": 1}, headers=headers)
            after_text = (await client.get("/metrics")).text
        after = _samples(after_text)
        route = "/v1/chat/completions"
        ok = _total(after, "switchyard_requests_total", route=route, status="200")
        assert ok - _total(before, "switchyard_requests_total", route=route, status="200") == 2
        assert _total(after, "switchyard_requests_total", route=route, status="400") >= 1
        relayed = _total(after, "switchyard_relayed_tokens_total")
        assert relayed - _total(before, "switchyard_relayed_tokens_total") == 16
        assert _total(after, "switchyard_providers", status="online") == 2
        assert _total(after, "switchyard_reservations_total", result="granted") >= 2
        assert _total(after, "switchyard_time_to_first_token_seconds_count", route=route) >= 2
        assert _total(after, "switchyard_store_call_seconds_count", method="create_hold") >= 2
        assert _total(after, "switchyard_challenges_total", verdict="passed") >= 2
        assert _total(after, "switchyard_mailbox_depth", path="/root/scheduler") == 0


async def test_health_and_readiness() -> None:
    async with coordinator() as running, httpx.AsyncClient(base_url=running.base_url) as c:
        health = (await c.get("/healthz")).json()
        assert health == {"status": "ok", "replica_id": running.coord.replica_id}
        assert health["replica_id"].startswith("r-")  # generated without --replica-id
        ready = await c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_bad_bodies_get_typed_4xx() -> None:
    settings = replace(fast_settings(), max_body_bytes=10_000)
    async with coordinator(settings) as running:
        _, key = await funded_key(running)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
            cases: list[tuple[Any, int]] = [
                (b"{not json", 400),
                (b"[1, 2]", 400),
                (b'{"model": "sim-small", "messages": "nope"}', 400),
                (b'{"model": "sim-small", "messages": []}', 400),
                (b"x" * 20_000, 413),
            ]
            for raw, status in cases:
                r = await c.post("/v1/chat/completions", content=raw)
                assert r.status_code == status, raw[:40]
                assert set(r.json()["error"]) >= {"message", "type"}
            r = await c.post("/v1/messages", content=b"{oops")
            assert r.status_code == 400 and r.json()["type"] == "error"
            r = await c.get("/v1/nowhere")
            assert r.status_code == 404 and "error" in r.json()
