"""A provider whose upstream dies: unroutable at once, the reason in /admin/providers, 503
without waiting, in-flight work retried elsewhere, and back by itself when the upstream is.

Real coordinator, real `--backend openai` agents in front of `FakeOpenAI` upstreams that
the tests stop, restart and freeze, and the official OpenAI SDK as the consumer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent import AgentConfig, ProviderAgent

from ..agent.fake_openai import FakeOpenAI
from ..polling import wait_until
from .browser import dump_dom
from .harness import ADMIN_KEY, Running, coordinator, funded_key
from .test_admin_cli import cli

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@asynccontextmanager
async def agent_for(
    running: Running, token: str, upstream: FakeOpenAI, **overrides: Any
) -> AsyncIterator[ProviderAgent]:
    settings: dict[str, Any] = {
        "coordinator": running.base_url,
        "token": token,
        "backend": "openai",
        "upstream": upstream.url,
        "health_interval_s": 0.1,
        "health_timeout_s": 1.0,
        "reconnect_base_s": 0.05,
        "reconnect_cap_s": 0.5,
        "shutdown_grace_s": 0.5,
    }
    settings.update(overrides)
    agent = ProviderAgent(AgentConfig(**settings), key=Ed25519PrivateKey.generate())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agent.run)
        await wait_until(lambda: running.provider(agent.provider_id), timeout=15)
        await wait_until(lambda: routable(running, agent), timeout=15)
        try:
            yield agent
        finally:
            agent.stop(0.5)


async def routable(running: Running, agent: ProviderAgent) -> bool:
    entry = await running.provider(agent.provider_id)
    return entry is not None and entry["routable"]


async def upstream_of(running: Running, agent: ProviderAgent) -> dict[str, Any]:
    entry = await running.provider(agent.provider_id)
    assert entry is not None
    return entry["upstream"]


async def unhealthy_gauge(running: Running) -> float:
    text = (await running.admin.get("/metrics")).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("switchyard_providers_upstream_unhealthy ")
    )
    return float(line.split()[1])


async def serve_upstream(nursery: trio.Nursery) -> FakeOpenAI:
    upstream = FakeOpenAI(models=[{"id": "m1"}])
    await nursery.start(upstream.run)
    return upstream


async def test_dead_upstream_is_unroutable_with_its_reason_then_recovers(
    nursery: trio.Nursery,
) -> None:
    upstream = await serve_upstream(nursery)
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        client = openai.AsyncOpenAI(
            base_url=f"{running.base_url}/v1", api_key=key, max_retries=0, timeout=30
        )
        async with client, agent_for(running, token, upstream) as agent:
            answer = await client.chat.completions.create(model="m1", messages=MESSAGES)
            assert answer.choices[0].message.content == "Hello world!"
            assert await upstream_of(running, agent) == {"healthy": True, "reason": None}
            assert await unhealthy_gauge(running) == 0

            await upstream.stop()

            async def down() -> bool:
                return not (await upstream_of(running, agent))["healthy"]

            await wait_until(down)
            entry = await running.provider(agent.provider_id)
            assert entry is not None and not entry["routable"]
            assert "cannot connect" in entry["upstream"]["reason"], entry
            assert await unhealthy_gauge(running) == 1
            table = await cli(running, "--table", "providers", "list")
            row = next(line for line in table.stdout.splitlines() if agent.provider_id in line)
            assert "down: GET " in row and "cannot connect" in row, table.stdout

            with trio.fail_after(5):  # not the 30 s wait for a slot
                with pytest.raises(openai.APIStatusError) as refused:
                    await client.chat.completions.create(model="m1", messages=MESSAGES)
            assert refused.value.status_code == 503
            assert refused.value.code == "no_capacity"

            await nursery.start(upstream.run)  # back on the same port
            await wait_until(lambda: routable(running, agent))
            assert await upstream_of(running, agent) == {"healthy": True, "reason": None}
            assert await unhealthy_gauge(running) == 0
            answer = await client.chat.completions.create(model="m1", messages=MESSAGES)
            assert answer.choices[0].message.content == "Hello world!"


async def test_in_flight_work_on_a_frozen_upstream_is_retried_on_another_provider(
    nursery: trio.Nursery,
) -> None:
    frozen = await serve_upstream(nursery)
    frozen.hang_chat = True  # takes the request and never answers
    healthy = await serve_upstream(nursery)
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        client = openai.AsyncOpenAI(
            base_url=f"{running.base_url}/v1", api_key=key, max_retries=0, timeout=30
        )
        answers: list[str | None] = []

        async def ask() -> None:
            answer = await client.chat.completions.create(model="m1", messages=MESSAGES)
            answers.append(answer.choices[0].message.content)

        # The fake upstream shares this test's event loop: on a loaded machine its health
        # answers come late by the loop's lag, so a timeout shorter than that lag declares
        # it down before the healthy provider is up and the retry finds no one (503).
        async with client, agent_for(running, token, frozen, health_timeout_s=2.0) as stuck:
            nursery.start_soon(ask)
            await wait_until(lambda: frozen.requests)
            async with agent_for(running, token, healthy):
                frozen.frozen = True  # its health checks get no answer either now
                # Bounded by the request's own timeout, not a guess at how fast the
                # health checks, the cancel and the retry run on a loaded machine.
                await wait_until(lambda: answers, timeout=30)  # the client timeout
                assert answers == ["Hello world!"]
                assert len(healthy.requests) == 1
                reason = (await upstream_of(running, stuck))["reason"]
                assert "no answer within 2s" in reason


async def test_the_inspection_page_shows_a_down_upstream_and_its_reason(
    nursery: trio.Nursery, request: pytest.FixtureRequest
) -> None:
    browser: str = request.getfixturevalue("chromium")
    upstream = await serve_upstream(nursery)
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with agent_for(running, token, upstream) as agent:
            await upstream.stop()

            async def down() -> bool:
                return not (await upstream_of(running, agent))["healthy"]

            await wait_until(down)
            dom = await dump_dom(browser, f"{running.base_url}/admin?key={ADMIN_KEY}")
    cell = re.search(r'<td class="bad" data-upstream="down">([^<]*)</td>', dom)
    assert cell, dom[-3000:]
    assert cell.group(1).startswith("down: GET ") and "cannot connect" in cell.group(1)
