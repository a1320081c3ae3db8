"""Upstream health: the prober against a real local server, and the agent around it.

The prober runs against `FakeOpenAI` over real sockets: it is stopped, restarted, frozen
or made to answer its health route with an error. The agent tests put a real agent in
front of it and watch what reaches a `FakeCoordinator`: heartbeats carrying the upstream's
health, refusals while it is down, in-flight requests failed as retryable.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from switchyard.agent import ProviderAgent
from switchyard.agent.health import UpstreamHealth, probe_urls
from switchyard.protocol.frames import HeartbeatFrame

from ..polling import wait_until
from .fake_openai import FakeOpenAI
from .fakecoord import FakeConn, FakeCoordinator
from .test_agent_session import make_config, request

FAST = {"interval_s": 0.05, "timeout_s": 0.5}


async def serve(nursery: trio.Nursery) -> FakeOpenAI:
    upstream = FakeOpenAI(models=[{"id": "llama"}])
    await nursery.start(upstream.run)
    return upstream


def health_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "switchyard.agent.health"
    ]


# -- the prober --------------------------------------------------------------------------


def test_probe_urls_prefer_health_then_models_unless_one_is_given() -> None:
    assert probe_urls("http://gpu:8000/v1/") == (
        "http://gpu:8000/health",
        "http://gpu:8000/v1/models",
    )
    assert probe_urls("http://gpu:11434/v1", "http://gpu:11434/") == ("http://gpu:11434/",)


async def test_falls_back_to_models_when_the_server_has_no_health_route(
    nursery: trio.Nursery,
) -> None:
    upstream = await serve(nursery)
    health = UpstreamHealth(probe_urls(upstream.url), **FAST)
    nursery.start_soon(health.run)
    await wait_until(lambda: health.probes >= 3)
    assert health.state.healthy
    assert health.url == f"{upstream.url}/models"
    assert upstream.targets[0] == "GET /health"
    assert set(upstream.targets[1:]) == {"GET /v1/models"}


async def test_health_route_error_is_down_with_a_reason_and_one_log_line_each_way(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="switchyard.agent.health")
    upstream = await serve(nursery)
    upstream.health_status = 200
    health = UpstreamHealth(probe_urls(upstream.url), **FAST)
    nursery.start_soon(health.run)
    await wait_until(lambda: health.probes >= 2)
    assert health.url == f"http://127.0.0.1:{upstream.port}/health"
    assert health.state.healthy

    upstream.health_status = 503  # llama.cpp while it loads, vLLM with a dead engine
    await wait_until(lambda: not health.state.healthy)
    assert "HTTP 503" in (health.state.reason or "")
    seen = health.probes
    await wait_until(lambda: health.probes >= seen + 5)  # it keeps probing while down
    upstream.health_status = 200
    await wait_until(lambda: health.state.healthy)
    await wait_until(lambda: health.probes >= seen + 10)

    logged = [(level, m) for level, m in health_records(caplog) if level >= logging.INFO]
    assert [level for level, _ in logged] == [logging.WARNING, logging.INFO], logged
    assert "HTTP 503" in logged[0][1]


async def test_stopped_upstream_is_down_and_recovers_when_it_returns(
    nursery: trio.Nursery,
) -> None:
    upstream = await serve(nursery)
    health = UpstreamHealth(probe_urls(upstream.url), **FAST)
    nursery.start_soon(health.run)
    await wait_until(lambda: health.probes >= 1 and health.state.healthy)

    await upstream.stop()
    await wait_until(lambda: not health.state.healthy)
    assert "cannot connect" in (health.state.reason or ""), health.state

    await nursery.start(upstream.run)  # same port
    await wait_until(lambda: health.state.healthy)
    assert health.state.reason is None


async def test_an_upstream_that_stops_answering_times_out(nursery: trio.Nursery) -> None:
    upstream = await serve(nursery)
    health = UpstreamHealth(probe_urls(upstream.url), interval_s=0.05, timeout_s=0.2)
    nursery.start_soon(health.run)
    await wait_until(lambda: health.probes >= 1 and health.state.healthy)
    upstream.frozen = True
    await wait_until(lambda: not health.state.healthy)
    assert "no answer within 0.2s" in (health.state.reason or ""), health.state


async def test_a_reported_failure_marks_down_at_once_and_probes_again_now(
    nursery: trio.Nursery,
) -> None:
    upstream = await serve(nursery)
    health = UpstreamHealth(probe_urls(upstream.url), interval_s=3600, timeout_s=1)
    nursery.start_soon(health.run)
    await wait_until(lambda: health.probes >= 1)
    changed = health.changed()

    health.report_failure("upstream failed: ReadError()")
    assert not health.state.healthy
    assert health.state.reason == "upstream failed: ReadError()"
    assert changed.is_set()
    # Only an early probe (the interval is an hour) can bring it back.
    await wait_until(lambda: health.state.healthy)
    assert health.probes == 2


async def test_an_unmonitored_upstream_is_always_healthy() -> None:
    health = UpstreamHealth()  # the simulated backend: nothing to probe
    await health.run()
    health.report_failure("whatever")
    assert health.state.healthy and health.state.reason is None
    assert not health.monitored


# -- the agent around it -----------------------------------------------------------------


async def start_agent(
    nursery: trio.Nursery, tmp_path: Path, upstream: FakeOpenAI, **overrides: object
) -> FakeConn:
    coord = FakeCoordinator()  # heartbeats every 60 s: any sooner one is a health change
    await nursery.start(coord.run)
    settings: dict[str, object] = {
        "backend": "openai",
        "upstream": upstream.url,
        "health_interval_s": 0.05,
        "health_timeout_s": 0.5,
    }
    settings.update(overrides)
    agent = ProviderAgent(make_config(coord.url, tmp_path, **settings))
    nursery.start_soon(agent.run)
    conn = await coord.next_connection()
    with trio.fail_after(10):
        await agent.wait_online()
    return conn


def upstream_reports(conn: FakeConn) -> list[tuple[bool, str | None]]:
    beats: list[HeartbeatFrame] = conn.of_type("heartbeat")
    return [(b.upstream.healthy, b.upstream.reason) for b in beats if b.upstream is not None]


async def test_agent_reports_a_dead_upstream_refuses_work_and_recovers(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    upstream = await serve(nursery)
    conn = await start_agent(nursery, tmp_path, upstream)

    await upstream.stop()
    await conn.wait_for(lambda: any(not ok for ok, _ in upstream_reports(conn)))
    healthy, reason = upstream_reports(conn)[-1]
    assert not healthy and reason and "cannot connect" in reason

    await conn.send(request("r1", model="llama"))
    _, done = await conn.result("r1")
    assert (done.type, done.code, done.retryable) == ("error", "upstream_down", True)
    assert "cannot connect" in done.message

    await nursery.start(upstream.run)
    await conn.wait_for(lambda: upstream_reports(conn)[-1] == (True, None))
    await conn.send(request("r2", model="llama"))
    text, done = await conn.result("r2")
    assert (done.type, text) == ("complete", "Hello world!")


async def test_in_flight_work_fails_retryable_when_the_upstream_stops_answering(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    upstream = await serve(nursery)
    upstream.hang_chat = True
    conn = await start_agent(nursery, tmp_path, upstream, health_timeout_s=0.2)
    await conn.send(request("r1", model="llama"))
    await wait_until(lambda: upstream.requests)

    upstream.frozen = True  # probes get no answer now
    _, done = await conn.result("r1")
    assert (done.type, done.code, done.retryable) == ("error", "upstream_down", True)
    down = next(
        i for i, f in enumerate(conn.log) if f.type == "heartbeat" and not f.upstream.healthy
    )
    assert down < conn.log.index(done), "the coordinator hears of it before the failure"


async def test_a_transport_error_on_a_request_marks_the_upstream_down_at_once(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    upstream = await serve(nursery)
    conn = await start_agent(nursery, tmp_path, upstream, health_interval_s=3600)
    await upstream.stop()  # no probe runs for an hour: only the request can notice

    await conn.send(request("r1", model="llama"))
    _, done = await conn.result("r1")
    assert (done.type, done.code, done.retryable) == ("error", "upstream_unreachable", True)
    reports = upstream_reports(conn)
    assert reports and not reports[-1][0], reports
    beat = next(f for f in conn.log if f.type == "heartbeat" and not f.upstream.healthy)
    assert conn.log.index(beat) < conn.log.index(done)
    await conn.send(request("r2", model="llama"))
    _, done = await conn.result("r2")
    assert (done.type, done.code, done.retryable) == ("error", "upstream_down", True)
