"""Processes for the real-backend tests: `llama-server`, and Switchyard in front of it.

`launch_llama_server` runs the cached binary on 127.0.0.1 with the tiny model (context
`tiny_model.N_CTX`, one slot, one thread). `switchyard_in_front` starts an in-process
coordinator (real sockets, memory store) and a real `switchyard provider --backend openai
--upstream .../v1` process, and yields once the provider is routable.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from ..integration.harness import Running, coordinator, fast_settings, funded_key
from ..polling import wait_until
from . import tiny_model

MODEL = "tiny-llama"
STARTUP_TIMEOUT_S = 60.0


@dataclass
class LlamaServer:
    """A running `llama-server`: its base URL, served model name and context size."""

    base_url: str
    model: str
    n_ctx: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def stop(self) -> None:
        """Terminate the server (idempotent); SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Stack:
    """Switchyard in front of `llama-server`: where to send consumer requests."""

    running: Running
    api_key: str
    provider_id: str

    @property
    def v1(self) -> str:
        return f"{self.running.base_url}/v1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_llama_server(binary: Path, log_dir: Path) -> LlamaServer:
    """Start `llama-server` with the tiny model; `until_healthy` waits for it, `stop` ends it."""
    port = free_port()
    server = LlamaServer(
        f"http://127.0.0.1:{port}", MODEL, tiny_model.N_CTX, log_dir / "llama-server.log"
    )
    command = [
        str(binary),
        "--model", str(tiny_model.model_path()),
        "--alias", MODEL,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--ctx-size", str(tiny_model.N_CTX),
        "--parallel", "1",
        "--threads", "1",
        "--jinja",
        "--no-webui",
    ]  # fmt: skip
    with server.log_path.open("wb") as log:
        server.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    return server


async def until_healthy(server: LlamaServer) -> None:
    """Wait until `server` answers `/health` with 200 (its model is loaded)."""
    async with httpx.AsyncClient(timeout=2) as http:

        async def healthy() -> bool:
            if server.process is None or server.process.poll() is not None:
                raise RuntimeError(f"llama-server exited while starting:\n{server.log_tail()}")
            try:
                return (await http.get(f"{server.base_url}/health")).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            await wait_until(healthy, timeout=STARTUP_TIMEOUT_S, interval=0.1)
        except AssertionError as exc:
            raise RuntimeError(f"{exc}\n{server.log_tail()}") from exc


@contextmanager
def running_llama_server(binary: Path, log_dir: Path) -> Iterator[LlamaServer]:
    """`llama-server` started and healthy for the block (outside trio: the session fixture)."""
    server = launch_llama_server(binary, log_dir)
    try:
        trio.run(until_healthy, server)
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def switchyard_in_front(llama: LlamaServer, workdir: Path) -> AsyncIterator[Stack]:
    """A coordinator and a real `switchyard provider --backend openai` for `llama`."""
    async with coordinator(fast_settings()) as running:
        _, token = await running.provider_token()
        _, api_key = await funded_key(running)
        command = [
            sys.executable, "-m", "switchyard.cli", "provider",
            "--coordinator", running.base_url,
            "--backend", "openai",
            "--upstream", llama.v1,
            "--slots", "1",
            "--key-file", str(workdir / "provider_key"),
            "--log-level", "DEBUG",
        ]  # fmt: skip
        env = {**os.environ, "SWITCHYARD_PROVIDER_TOKEN": token}
        with (workdir / "provider.log").open("wb") as log:
            process = await trio.lowlevel.open_process(
                command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:

            async def routable() -> str | None:
                if process.poll() is not None:
                    log_text = (workdir / "provider.log").read_text(errors="replace")
                    raise RuntimeError(f"switchyard provider exited early:\n{log_text}")
                online = [p for p in await running.providers() if p["routable"]]
                return online[0]["id"] if online else None

            provider_id = await wait_until(routable, timeout=30, interval=0.1)
            yield Stack(running, api_key, provider_id)
        finally:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(10):
                await process.wait()
            if process.poll() is None:
                process.kill()
                await process.wait()
