"""`switchyard provider` as a process: signals stop it gracefully; a bad token exits non-zero;
the health flags probe the upstream and the agent logs each change once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from switchyard.protocol.codes import CloseCode

from ..polling import wait_until
from .fake_openai import FakeOpenAI
from .fakecoord import FakeCoordinator
from .test_agent_session import request

CLI = [sys.executable, "-c", "from switchyard.cli import main; main()", "provider"]


def command(coord: FakeCoordinator, tmp_path: Path, *extra: str) -> list[str]:
    return [
        *CLI,
        "--coordinator", coord.url,
        "--key-file", str(tmp_path / "key"),
        "--models", "sim-a,sim-b",
        "--slots", "3",
        "--ttft", "0",
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_the_agent_gracefully(
    nursery: trio.Nursery, tmp_path: Path, signum: signal.Signals
) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    env = {**os.environ, "SWITCHYARD_PROVIDER_TOKEN": "secret"}
    proc = await nursery.start(
        partial(
            trio.run_process, command(coord, tmp_path), check=False, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    )  # fmt: skip
    conn = await coord.next_connection(timeout=30)
    assert [(m.id, m.slots) for m in conn.register.models] == [("sim-a", 3), ("sim-b", 3)]
    await conn.send(request("r", model="sim-b", max_tokens=4))
    _, done = await conn.result("r")
    assert done.type == "complete"

    proc.send_signal(signum)
    with trio.fail_after(30):
        await conn.closed.wait()
        assert await proc.wait() == 0
    assert conn.close_code == CloseCode.NORMAL
    assert (tmp_path / "key").exists()


async def test_rejected_token_exits_non_zero(nursery: trio.Nursery, tmp_path: Path) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    with trio.fail_after(30):
        result = await trio.run_process(
            [*command(coord, tmp_path), "--token", "wrong"], check=False, capture_stderr=True
        )
    assert result.returncode != 0
    assert b"401" in result.stderr
    assert coord.attempts == 1


async def test_health_flags_probe_the_upstream_and_log_once_each_way(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    upstream = FakeOpenAI(models=[{"id": "llama"}])
    upstream.health_status = 200
    await nursery.start(upstream.run)
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    env = {**os.environ, "SWITCHYARD_PROVIDER_TOKEN": "secret"}
    args = command(coord, tmp_path, "--backend", "openai", "--upstream", upstream.url)
    args[args.index("--models") + 1] = "llama"
    args += ["--health-interval-s", "0.05", "--health-timeout-s", "1"]
    args += ["--health-url", f"http://127.0.0.1:{upstream.port}/health"]
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log_file:
        proc = await nursery.start(
            partial(
                trio.run_process, args, check=False, env=env,
                stdout=subprocess.DEVNULL, stderr=log_file,
            )
        )  # fmt: skip
        conn = await coord.next_connection(timeout=30)

        def last_upstream() -> tuple[bool, str | None] | None:
            beats = [f.upstream for f in conn.of_type("heartbeat") if f.upstream is not None]
            return (beats[-1].healthy, beats[-1].reason) if beats else None

        upstream.health_status = 503
        await conn.wait_for(lambda: last_upstream() and not last_upstream()[0], timeout=30)
        assert "HTTP 503" in (last_upstream() or (True, ""))[1]
        probes = upstream.targets.count("GET /health")
        await wait_until(lambda: upstream.targets.count("GET /health") >= probes + 5)
        upstream.health_status = 200
        await conn.wait_for(lambda: last_upstream() == (True, None), timeout=30)
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            assert await proc.wait() == 0
    # models listed once (and described once: the Ollama probe, which this server 404s)
    assert upstream.targets.count("GET /v1/models") == 1
    assert set(upstream.targets) == {"GET /v1/models", "POST /api/show", "GET /health"}
    lines = log_path.read_text().splitlines()
    down = [line for line in lines if "upstream is down" in line]
    back = [line for line in lines if "upstream is back" in line]
    assert len(down) == 1 and " WARNING " in down[0] and "HTTP 503" in down[0], lines
    assert len(back) == 1 and " INFO " in back[0], lines


@pytest.mark.parametrize("form", ["repeated", "env"])
async def test_several_coordinators_fail_over_to_a_live_one(
    nursery: trio.Nursery, tmp_path: Path, form: str
) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    env = {**os.environ, "SWITCHYARD_PROVIDER_TOKEN": "secret"}
    argv = [*CLI, "--key-file", str(tmp_path / "key"), "--models", "sim-a", "--ttft", "0"]
    if form == "repeated":
        argv += ["--coordinator", dead, "--coordinator", coord.url]
    else:
        env["SWITCHYARD_COORDINATOR"] = f"{dead},{coord.url}"
    proc = await nursery.start(
        partial(
            trio.run_process, argv, check=False, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    )  # fmt: skip
    conn = await coord.next_connection(timeout=30)  # the dead one first, then this one
    assert [m.id for m in conn.register.models] == ["sim-a"]
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        assert await proc.wait() == 0
