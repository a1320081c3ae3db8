"""Helpers for the self-service tests: a coordinator whose cookies work over plain HTTP,
invite codes, signed-in httpx clients (session cookie + CSRF header), and a real agent
owned by a given account."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent import AgentConfig, AgentFatalError, ProviderAgent, SimulatedConfig
from switchyard.settings import Settings
from switchyard.storage import open_store

from ..polling import wait_until
from .harness import Running, coordinator, fast_settings

PASSWORD = "correct horse battery staple"
CLI = [sys.executable, "-c", "from switchyard.cli import main; main()"]
PRICE = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 2_000_000}
USER_CODE = re.compile(rb"enter the code ([A-Z]{4}-[A-Z]{4})")
#: A simulated model that answers at once: 12 tokens at 2,000 tokens/s.
FAST_AGENT = ["--ttft", "0", "--tokens-per-s", "2000", "--output-tokens", "12"]


async def read_until(stream: trio.abc.ReceiveStream, pattern: re.Pattern[bytes]) -> bytes:
    """The first group of `pattern` once it appears in `stream` (the CLI's output)."""
    seen = b""
    with trio.fail_after(30):
        while (match := pattern.search(seen)) is None:
            chunk = await stream.receive_some(4096)
            assert chunk, f"the CLI ended without printing a code: {seen!r}"
            seen += chunk
    return match.group(1)


def plain_http_settings(**overrides: Any) -> Settings:
    """Test settings with `cookie_secure` off: httpx sends no Secure cookie over http://."""
    return replace(fast_settings(), cookie_secure=False, **overrides)


@asynccontextmanager
async def self_service(
    target: tuple[str | None, str | None] = (None, None), **overrides: Any
) -> AsyncIterator[Running]:
    """A running coordinator on the target store (memory or a Postgres schema)."""
    url, schema = target
    async with open_store(url, schema=schema) as store:
        async with coordinator(plain_http_settings(**overrides), store) as running:
            yield running


async def invite(running: Running, uses: int = 1, expires_in_s: int = 3600) -> str:
    """A fresh raw invite code, made through the admin API."""
    body = {"max_uses": uses, "expires_in_s": expires_in_s}
    reply = await running.admin.post("/admin/invite-codes", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["code"])


@asynccontextmanager
async def signed_up(
    running: Running, login: str, password: str = PASSWORD
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """(client carrying the session cookie and CSRF header, the sign-up reply)."""
    code = await invite(running)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
        reply = await client.post(
            "/v1/signup", json={"invite_code": code, "login": login, "password": password}
        )
        assert reply.status_code == 201, reply.text
        body = reply.json()
        client.headers["X-CSRF-Token"] = body["csrf_token"]
        yield client, body


@asynccontextmanager
async def agent_for(running: Running, account_id: str) -> AsyncIterator[ProviderAgent]:
    """A real provider agent (simulated backend) owned by `account_id`, online."""
    reply = await running.admin.post(
        "/admin/provider-tokens", json={"account_id": account_id, "name": "gpu"}
    )
    config = AgentConfig(
        coordinator=running.base_url,
        token=reply.json()["token"],
        simulated=SimulatedConfig(ttft_s=0.0, tokens_per_s=2000.0),
        reconnect_base_s=0.05,
        reconnect_cap_s=0.5,
        shutdown_grace_s=1.0,
    )
    agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())

    async def run() -> None:
        try:
            await agent.run()
        except AgentFatalError:
            pass  # revoked by the test: the agent stops, as it should

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)

        async def online() -> bool:
            state = await running.provider(agent.provider_id)
            return bool(state and state["routable"])

        await wait_until(online, timeout=15)
        try:
            yield agent
        finally:
            agent.stop(0.5)


@asynccontextmanager
async def agent_from_token_file(
    base_url: str, token_file: Path, key_file: Path
) -> AsyncIterator[None]:
    """A real `switchyard provider` process that finds its token only in `token_file`
    (what `provider login` wrote), serving a fast simulated model; SIGTERM on exit."""
    command = [*CLI, "provider", "--coordinator", base_url, "--token-file", str(token_file),
               "--key-file", str(key_file), *FAST_AGENT]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SWITCHYARD_PROVIDER_TOKEN"}
    async with trio.open_nursery() as nursery:
        agent = await nursery.start(
            partial(trio.run_process, command, check=False, env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )  # fmt: skip
        try:
            yield
        finally:
            agent.send_signal(signal.SIGTERM)
            with trio.fail_after(30):
                await agent.wait()
