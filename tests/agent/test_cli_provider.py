"""`switchyard provider` as a process: signals stop it gracefully; a bad token exits non-zero."""

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
