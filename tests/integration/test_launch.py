"""`switchyard serve` and `switchyard dev` as a newcomer runs them: real processes.

A busy port is one line naming the address and the flag (no traceback, non-zero exit);
`dev` prints the same documented demo key on every start, and that key works.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import openai
import pytest
import trio

from switchyard.agent.simulated import simulated_text
from switchyard.launch import DEMO_API_KEY, DEMO_MODEL

CLI = [sys.executable, "-m", "switchyard.cli"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def clean_env() -> dict[str, str]:
    """This environment without SWITCHYARD_* variables (they would change the defaults)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}


@contextmanager
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def error_lines(stderr: bytes) -> list[str]:
    """What the command printed besides its log lines."""
    return [line for line in stderr.decode().splitlines() if not LOG_LINE.match(line)]


async def run_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `switchyard ARGS` with a clean environment plus `env`."""
    with trio.fail_after(60):
        return await trio.run_process(
            [*CLI, *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**clean_env(), **(env or {})},
        )


async def test_serve_on_a_busy_port_is_one_line() -> None:
    with busy_port() as port:
        result = await run_cli("serve", "--port", str(port))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"Error: 127.0.0.1:{port} is already in use; "
        "pick another port with --port (or SWITCHYARD_PORT)."
    ]
    assert result.stdout == b""


async def test_dev_on_a_busy_port_is_one_line_with_the_make_hint() -> None:
    with busy_port() as port:
        result = await run_cli("dev", "--port", str(port), "--providers", "0")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"Error: 127.0.0.1:{port} is already in use; pick another port with --port "
        f'(make dev ARGS="--port {port + 1}").'
    ]
    assert result.stdout == b""


@asynccontextmanager
async def dev_process(*args: str) -> AsyncIterator[tuple[str, str]]:
    """`switchyard dev --port 0 ARGS` until its banner is out; yields (base URL, demo key).

    Leaving the block sends SIGINT and expects a clean exit.
    """
    process = await trio.lowlevel.open_process(
        [*CLI, "dev", "--port", "0", "--providers", "1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=clean_env(),
    )  # fmt: skip
    assert process.stdout is not None
    try:
        seen = ""
        with trio.fail_after(30):
            while "Press Ctrl-C" not in seen:
                chunk = await process.stdout.receive_some()
                if not chunk:
                    raise AssertionError(f"dev exited early: {seen}")
                seen += chunk.decode()
        url = re.search(r"dev coordinator on (http://\S+)", seen)
        key = re.search(r"demo API key:\s+(\S+)", seen)
        assert url is not None and key is not None, seen
        yield url.group(1), key.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        with trio.fail_after(30):
            code = await process.wait()
    assert code == 0


async def ask(base_url: str, key: str) -> str:
    """One chat completion with the official SDK; returns the answer."""
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
    async with client:
        reply = await client.chat.completions.create(
            model=DEMO_MODEL, messages=[{"role": "user", "content": "Hello!"}], max_tokens=5
        )
    return reply.choices[0].message.content or ""


async def test_dev_demo_key_is_stable_across_restarts() -> None:
    keys = []
    for _ in range(2):
        async with dev_process() as (base_url, key):
            keys.append(key)
            # What the README promises sim-small answers: tok0 tok1 ... (cut at max_tokens).
            assert await ask(base_url, key) == simulated_text(5)
    assert keys == [DEMO_API_KEY, DEMO_API_KEY]


async def test_dev_api_key_flag_overrides_the_demo_key() -> None:
    chosen = "sk-sy-my-own-dev-key"
    async with dev_process("--api-key", chosen) as (base_url, key):
        assert key == chosen
        assert await ask(base_url, key) == simulated_text(5)
        with pytest.raises(openai.AuthenticationError):
            await ask(base_url, DEMO_API_KEY)


async def test_dev_refuses_a_malformed_api_key_before_starting() -> None:
    result = await run_cli("dev", "--port", "0", "--api-key", "not-a-key")
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert b"sk-sy- plus at least 8 of [A-Za-z0-9_-]" in result.stderr
