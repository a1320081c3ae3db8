"""Integration-test harness: a coordinator on 127.0.0.1 and a hand-driven provider socket.

`RawProvider` speaks the wire protocol frame by frame so tests can misbehave on purpose;
well-behaved providers in tests use the real agent instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from switchyard.coordinator import Coordinator
from switchyard.launch import running_coordinator
from switchyard.protocol.limits import PROTOCOL_VERSION
from switchyard.protocol.signing import public_key_b64, sign_challenge
from switchyard.settings import ProviderSettings, Settings

from ..polling import wait_until

ADMIN_KEY = "test-admin-key"


def fast_settings(**provider: Any) -> Settings:
    """Settings with short timers so liveness and challenge paths run in test time."""
    base = ProviderSettings(
        heartbeat_interval_s=0.5,
        challenge_interval_s=30.0,
        challenge_deadline_s=2.0,
        challenge_retry_s=0.2,
        enable_test_hardware=True,
    )
    return Settings(
        host="127.0.0.1", port=0, admin_key=ADMIN_KEY, provider=replace(base, **provider)
    )


@dataclass
class Running:
    coord: Coordinator
    base_url: str
    admin: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/v1/providers/connect"

    async def provider_token(self, name: str = "owner") -> tuple[str, str]:
        """(account id, raw provider token) for a fresh provider-owner account."""
        account = (await self.admin.post("/admin/accounts", json={"name": name})).json()
        body = {"account_id": account["id"], "name": "agent"}
        token = (await self.admin.post("/admin/provider-tokens", json=body)).json()["token"]
        return account["id"], token

    async def providers(self) -> list[dict[str, Any]]:
        return (await self.admin.get("/admin/providers")).json()["providers"]

    async def provider(self, provider_id: str) -> dict[str, Any] | None:
        return next((p for p in await self.providers() if p["id"] == provider_id), None)


@asynccontextmanager
async def coordinator(
    settings: Settings | None = None, store: Any = None
) -> AsyncIterator[Running]:
    async with running_coordinator(settings or fast_settings(), store) as (coord, base_url):
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as admin:
            yield Running(coord, base_url, admin)


class RawProvider:
    """A provider socket driven by hand (see module docstring)."""

    def __init__(self, ws: WebSocketConnection, key: Ed25519PrivateKey) -> None:
        self.ws = ws
        self.key = key
        self.provider_id = ""
        self.status: dict[str, Any] = {"in_use": {}, "load": 0.0}

    @property
    def public_key(self) -> str:
        return public_key_b64(self.key)

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send_message(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        with trio.fail_after(timeout):
            return json.loads(await self.ws.get_message())

    async def recv_type(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of `kind`, skipping others (challenges are answered if not wanted)."""
        with trio.fail_after(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["type"] == kind:
                    return frame

    def register_frame(self, models: list[dict[str, Any]] | None = None, **extra: Any) -> dict:
        return {
            "type": "register",
            "protocol_version": PROTOCOL_VERSION,
            "agent_version": "raw-test",
            "public_key": self.public_key,
            "attestation": {"kind": "none", "evidence": ""},
            "models": models or [{"id": "m1", "slots": 2}],
            **extra,
        }

    async def register(self, timeout: float = 5.0, **kw: Any) -> dict[str, Any]:
        await self.send(self.register_frame(**kw))
        registered = await self.recv_type("registered", timeout)
        self.provider_id = registered["provider_id"]
        return registered

    def answer(self, challenge: dict[str, Any], key: Ed25519PrivateKey | None = None) -> dict:
        signature = sign_challenge(
            key or self.key, challenge["nonce"], self.provider_id, self.status
        )
        return {
            "type": "challenge_response",
            "nonce": challenge["nonce"],
            "signature": signature,
            "status": self.status,
        }

    async def pass_challenge(self) -> None:
        challenge = await self.recv_type("challenge")
        await self.send(self.answer(challenge))

    async def heartbeat(self) -> None:
        await self.send({"type": "heartbeat", "in_use": {}, "load": 0.0})

    async def stay_online(
        self,
        heartbeat_interval_s: float,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Behave like a live agent from `registered` on, until cancelled: heartbeat every
        `heartbeat_interval_s` (the interval `registered` gave) and answer every challenge;
        `task_status.started()` once the first challenge is answered. A provider that does
        neither is rightly disconnected `heartbeat_misses` intervals after it registered."""

        async def heartbeats() -> None:
            while True:
                await self.heartbeat()
                await trio.sleep(heartbeat_interval_s)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(heartbeats)
            while True:
                frame = json.loads(await self.ws.get_message())
                if frame["type"] == "challenge":
                    await self.send(self.answer(frame))
                    task_status.started()
                    task_status = trio.TASK_STATUS_IGNORED

    async def closed_with(self, timeout: float = 5.0) -> tuple[int, dict[str, Any] | None]:
        """Read until the coordinator closes; (close code, last protocol_error frame)."""
        last_error = None
        with trio.fail_after(timeout):
            try:
                while True:
                    frame = json.loads(await self.ws.get_message())
                    if frame["type"] == "protocol_error":
                        last_error = frame
            except ConnectionClosed as closed:
                return closed.reason.code, last_error


@asynccontextmanager
async def raw_provider(
    running: Running, token: str, key: Ed25519PrivateKey | None = None
) -> AsyncIterator[RawProvider]:
    headers = [("Authorization", f"Bearer {token}")]
    async with open_websocket_url(running.ws_url, extra_headers=headers) as ws:
        yield RawProvider(ws, key or Ed25519PrivateKey.generate())


@asynccontextmanager
async def online_provider(
    running: Running, token: str, **register: Any
) -> AsyncIterator[RawProvider]:
    """A hand-driven provider, registered, challenged and routable."""
    async with raw_provider(running, token) as p:
        await p.register(**register)
        await p.pass_challenge()

        async def routable() -> bool:
            info = await running.provider(p.provider_id)
            return bool(info and info["routable"])

        await wait_until(routable)
        yield p


@dataclass
class Fleet:
    """Provider agents running in-process, all owned by one account."""

    owner_id: str
    agents: list[Any]


@asynccontextmanager
async def agents(
    running: Running,
    count: int = 2,
    sim: Any = None,
    slots: int = 4,
    models: tuple[str, ...] = ("sim-small",),
) -> AsyncIterator[Fleet]:
    """`count` real provider agents (simulated backend) connected and online."""
    from switchyard.agent.client import ProviderAgent
    from switchyard.agent.config import AgentConfig
    from switchyard.agent.simulated import SimulatedConfig

    owner_id, token = await running.provider_token()
    started = []
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            config = AgentConfig(
                coordinator=running.base_url,
                token=token,
                models=models,
                slots=slots,
                simulated=sim or SimulatedConfig(ttft_s=0.0, tokens_per_s=2000.0),
                reconnect_base_s=0.05,
                reconnect_cap_s=0.5,
                shutdown_grace_s=1.0,
            )
            agent = ProviderAgent(config, key=Ed25519PrivateKey.generate())
            nursery.start_soon(agent.run)
            started.append(agent)

        async def all_online() -> bool:
            ps = await running.providers()
            return len(ps) == count and all(p["routable"] for p in ps)

        await wait_until(all_online, timeout=15)
        try:
            yield Fleet(owner_id, started)
        finally:
            for agent in started:
                agent.stop(0.5)


async def funded_key(running: Running, micro_usd: int = 100_000_000) -> tuple[str, str]:
    """(account id, API key) of a fresh account credited with `micro_usd`."""
    account = (await running.admin.post("/admin/accounts", json={"name": "consumer"})).json()
    credit = {"amount_micro_usd": micro_usd, "reason": "test funding"}
    await running.admin.post(f"/admin/accounts/{account['id']}/credit", json=credit)
    key = (await running.admin.post(f"/admin/accounts/{account['id']}/keys", json={})).json()
    return account["id"], key["key"]


async def scheduler_stats(running: Running) -> dict[str, Any]:
    from switchyard.actors.scheduler_messages import SchedulerStats

    return await running.coord.scheduler.ask(SchedulerStats())


async def no_slots_reserved(running: Running) -> bool:
    """True once every reservation has been released (for `wait_until`)."""
    return (await scheduler_stats(running))["reserved_total"] == 0
