"""Request size limits end to end: one big request never costs a provider its socket.

A real coordinator and a real (simulated) provider agent. Sizes are bytes of UTF-8 on the
wire, not characters: a `€` is one character and three bytes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx

from switchyard.agent.simulated import SimulatedConfig
from switchyard.protocol.limits import MAX_COORDINATOR_FRAME_BYTES

from ..polling import wait_until
from .harness import (
    Fleet,
    Running,
    agents,
    coordinator,
    fast_settings,
    funded_key,
    no_slots_reserved,
)

SIM = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=4)
#: 400,000 characters, 1.2 MB of UTF-8: over the old 1 MiB frame, under the 4 MiB body limit.
EURO_PROMPT = "€" * 400_000


def requests_for(prompt: str) -> list[tuple[str, dict[str, Any]]]:
    """The prompt on every consumer route, streamed and not."""
    out: list[tuple[str, dict[str, Any]]] = []
    for stream in (False, True):
        chat = [{"role": "user", "content": prompt}]
        out.append(("/v1/chat/completions", {"model": "sim-small", "messages": chat}))
        out.append(("/v1/completions", {"model": "sim-small", "prompt": prompt}))
        messages = {"model": "sim-small", "max_tokens": 8, "messages": chat}
        out.append(("/v1/messages", messages))
        for _, body in out[-3:]:
            body["stream"] = stream
    return out


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST `body` as compact UTF-8 JSON (no \\u escapes, so bytes are what we think)."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    return await client.post(path, content=raw, headers={"Content-Type": "application/json"})


def served(r: httpx.Response, body: dict[str, Any]) -> bool:
    if r.status_code != 200:
        return False
    if not body["stream"]:
        return "error" not in r.json()
    return ("data: [DONE]" in r.text or "message_stop" in r.text) and "error" not in r.text


async def assert_provider_kept_its_socket(running: Running, fleet: Fleet) -> None:
    (agent,) = fleet.agents
    assert agent.registrations == 1  # never reconnected
    providers = await running.providers()
    assert [(p["id"], p["routable"]) for p in providers] == [(agent.provider_id, True)]


async def test_a_prompt_of_400k_euro_signs_is_served_without_closing_a_provider_socket() -> None:
    async with coordinator() as running, agents(running, 1, SIM) as fleet:
        _, key = await funded_key(running)
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=running.base_url, headers=auth, timeout=30) as c:
            for path, body in requests_for(EURO_PROMPT):
                r = await post(c, path, body)
                assert served(r, body), (path, body["stream"], r.status_code, r.text[:300])
        await assert_provider_kept_its_socket(running, fleet)
        await wait_until(lambda: no_slots_reserved(running))


async def test_a_request_whose_frame_would_exceed_the_limit_gets_413_naming_it() -> None:
    # A body limit above what one frame carries: the frame check is what refuses it.
    settings = replace(fast_settings(), max_body_bytes=3 * MAX_COORDINATOR_FRAME_BYTES)
    # Fewer characters than the limit has bytes, more bytes: sizes must be counted in bytes.
    prompt = "€" * (MAX_COORDINATOR_FRAME_BYTES // 3 + 1_000)
    async with coordinator(settings) as running, agents(running, 1, SIM) as fleet:
        account_id, key = await funded_key(running)
        before = (await running.admin.get(f"/admin/accounts/{account_id}")).json()
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=running.base_url, headers=auth, timeout=30) as c:
            for path, body in requests_for(prompt):
                r = await post(c, path, body)
                assert r.status_code == 413, (path, body["stream"], r.status_code, r.text[:300])
                error = r.json()["error"]
                assert str(MAX_COORDINATOR_FRAME_BYTES) in error["message"]
                kind = "request_too_large" if path == "/v1/messages" else "invalid_request_error"
                assert error["type"] == kind
            await assert_provider_kept_its_socket(running, fleet)
            for path, body in requests_for("hello"):
                r = await post(c, path, body)
                assert served(r, body), (path, body["stream"], r.status_code, r.text[:300])
        await wait_until(lambda: no_slots_reserved(running))
        await assert_provider_kept_its_socket(running, fleet)
        after = (await running.admin.get(f"/admin/accounts/{account_id}")).json()
        assert after["open_holds"] == 0
        assert after["balance_micro_usd"] == before["balance_micro_usd"]  # the model is free
