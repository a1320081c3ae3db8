"""Agent sessions over real WebSockets: register, challenges, heartbeats, slots, cancel, resync."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.agent import (
    AgentConfig,
    ModelInfo,
    ProviderAgent,
    SimulatedBackend,
    SimulatedConfig,
    simulated_text,
)
from switchyard.agent.backend import Event
from switchyard.protocol.frames import (
    CancelFrame,
    ChallengeFrame,
    InferenceRequestFrame,
    ModelSpec,
    ResyncFrame,
)
from switchyard.protocol.limits import PROTOCOL_VERSION
from switchyard.protocol.provider_frames import ModelCapabilities
from switchyard.protocol.signing import new_nonce, public_key_b64, verify_challenge
from switchyard.protocol.vocabulary import Support

from ..polling import wait_until
from .fakecoord import FakeConn, FakeCoordinator

INSTANT = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, output_tokens=5)


def make_config(url: str, tmp_path: Path, **overrides: object) -> AgentConfig:
    settings: dict[str, object] = {
        "coordinator": url,
        "token": "secret",
        "key_file": tmp_path / "key",
        "reconnect_base_s": 0.02,
        "reconnect_cap_s": 0.1,
        "simulated": INSTANT,
    }
    settings.update(overrides)
    return AgentConfig(**settings)  # type: ignore[arg-type]


def request(
    rid: str, *, max_tokens: int = 100, model: str = "sim-small", deadline_in: float = 60.0,
    stop: list[str] | None = None, content: str = "say something nice",
) -> InferenceRequestFrame:  # fmt: skip
    return InferenceRequestFrame(
        request_id=rid,
        model=model,
        request={
            "model": model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens,
            **({"stop": stop} if stop else {}),
        },
        deadline=time.time() + deadline_in,
    )


async def start(
    nursery: trio.Nursery, tmp_path: Path, coord: FakeCoordinator | None = None, **overrides: object
) -> tuple[FakeCoordinator, ProviderAgent, FakeConn]:
    coord = coord or FakeCoordinator()
    if not coord.port:
        await nursery.start(coord.run)
    agent = ProviderAgent(make_config(coord.url, tmp_path, **overrides))
    nursery.start_soon(agent.run)
    conn = await coord.next_connection()
    with trio.fail_after(10):
        await agent.wait_online()
    return coord, agent, conn


async def test_register_challenge_and_heartbeats(nursery: trio.Nursery, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    coord = FakeCoordinator(heartbeat_interval_s=0.02)
    await nursery.start(coord.run)
    agent = ProviderAgent(make_config(coord.url, tmp_path, slots=2), key=key)
    nursery.start_soon(agent.run)
    conn = await coord.next_connection()

    assert conn.path == "/v1/providers/connect"
    assert conn.auth == "Bearer secret"
    reg = conn.register
    assert reg.protocol_version == PROTOCOL_VERSION
    assert reg.public_key == public_key_b64(key)
    assert reg.attestation.kind == "none"
    caps = ModelCapabilities(completions=Support.YES, embeddings=Support.NO)
    assert reg.models == [
        ModelSpec(id="sim-small", slots=2, context_length=8192, capabilities=caps)
    ]
    assert agent.provider_id == conn.provider_id

    with trio.fail_after(10):
        await agent.wait_online()
    assert agent.trust == "self_signed"
    assert agent.state == "online"

    nonce = new_nonce()
    await conn.send(ChallengeFrame(nonce=nonce, deadline=time.time() + 10))
    _, resp = await conn.next_of_type("challenge_response")
    assert resp.nonce == nonce
    assert resp.status.in_use == {"sim-small": 0}
    assert verify_challenge(reg.public_key, nonce, conn.provider_id, resp.status, resp.signature)
    assert not verify_challenge(
        reg.public_key, new_nonce(), conn.provider_id, resp.status, resp.signature
    )

    await conn.wait_for(lambda: len(conn.of_type("heartbeat")) >= 3)
    assert all(h.in_use == {"sim-small": 0} and h.load == 0.0 for h in conn.of_type("heartbeat"))


async def test_output_usage_packing_and_stop(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, output_tokens=50)
    _, _, conn = await start(nursery, tmp_path, simulated=sim)

    await conn.send(request("cut", max_tokens=20, content="one two three"))
    text, done = await conn.result("cut")
    assert text == simulated_text(20)
    assert done.type == "complete"
    assert done.finish_reason == "length"
    assert done.usage.completion_tokens == 20
    assert done.usage.prompt_tokens == 3 + 3
    chunks = [f for f in conn.for_request("cut") if f.type == "chunk"]
    assert chunks[0].deltas[0].role == "assistant"
    assert len(chunks) < 20, "ready tokens are packed into shared chunk frames"

    await conn.send(request("full", max_tokens=500))
    text, done = await conn.result("full")
    assert text == simulated_text(50)
    assert (done.finish_reason, done.usage.completion_tokens) == ("stop", 50)

    # stop sequences are left to the coordinator unless the simulator is told to honour them
    await conn.send(request("ignored", max_tokens=5, stop=[" tok3"]))
    text, done = await conn.result("ignored")
    assert (text, done.finish_reason) == (simulated_text(5), "length")


async def test_simulator_can_honour_stop_sequences(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, output_tokens=50, honor_stop=True)
    _, _, conn = await start(nursery, tmp_path, simulated=sim)
    await conn.send(request("stopped", stop=[" tok3"]))
    text, done = await conn.result("stopped")
    assert text == "tok0 tok1 tok2"
    assert (done.finish_reason, done.usage.completion_tokens) == ("stop", 3)


async def test_slots_busy_and_release(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=50, output_tokens=10)
    _, _, conn = await start(nursery, tmp_path, slots=2, simulated=sim)

    for rid in ("a", "b", "c"):
        await conn.send(request(rid))
    _, busy = await conn.result("c")
    assert busy.type == "error"
    assert (busy.code, busy.retryable) == ("busy", True)
    for rid in ("a", "b"):
        text, done = await conn.result(rid)
        assert done.type == "complete"
        assert text == simulated_text(10)

    await conn.send(request("d", max_tokens=2))
    text, done = await conn.result("d")
    assert done.type == "complete"
    assert text == simulated_text(2)


async def test_unknown_model_and_expired_deadline(nursery: trio.Nursery, tmp_path: Path) -> None:
    _, _, conn = await start(nursery, tmp_path)
    await conn.send(request("m", model="other-model"))
    await conn.send(request("late", deadline_in=-1))
    _, unknown = await conn.result("m")
    assert (unknown.type, unknown.code, unknown.retryable) == ("error", "unknown_model", True)
    _, late = await conn.result("late")
    assert (late.type, late.code, late.retryable) == ("error", "deadline_exceeded", False)


async def test_deadline_during_generation(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=100, output_tokens=100_000)
    _, _, conn = await start(nursery, tmp_path, simulated=sim)
    await conn.send(request("slow", max_tokens=100_000, deadline_in=0.2))
    _, done = await conn.result("slow")
    assert (done.type, done.code, done.retryable) == ("error", "deadline_exceeded", False)


async def test_injected_failure(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, fail_rate=1.0, fail_after_tokens=2)
    _, _, conn = await start(nursery, tmp_path, simulated=sim)
    await conn.send(request("f"))
    text, done = await conn.result("f")
    assert text == simulated_text(2)
    assert (done.type, done.code, done.retryable) == ("error", "backend_error", True)


async def barrier(conn: FakeConn) -> None:
    """Round-trip a challenge so that everything the agent sent before has arrived."""
    nonce = new_nonce()
    await conn.send(ChallengeFrame(nonce=nonce, deadline=time.time() + 10))
    await conn.wait_for(lambda: any(f.nonce == nonce for f in conn.of_type("challenge_response")))


async def test_cancel_stops_output_and_frees_the_slot(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=100, output_tokens=100_000)
    _, _, conn = await start(nursery, tmp_path, slots=1, simulated=sim)

    await conn.send(request("a", max_tokens=100_000))
    await conn.wait_for(lambda: conn.for_request("a"))
    await conn.send(CancelFrame(request_id="a"))
    await conn.send(request("b", max_tokens=3))
    text, done = await conn.result("b")
    assert done.type == "complete", "the cancelled request's slot was freed"
    assert text == simulated_text(3)
    await barrier(conn)

    first_b = conn.log.index(conn.for_request("b")[0])
    assert conn.for_request("a", start=first_b) == []
    assert all(f.type == "chunk" for f in conn.for_request("a"))
    await conn.send(CancelFrame(request_id="never-heard-of-it"))
    await barrier(conn)


async def test_resync_abandons_everything_and_heartbeats(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=100, output_tokens=100_000)
    _, _, conn = await start(nursery, tmp_path, slots=2, simulated=sim)

    for rid in ("a", "b"):
        await conn.send(request(rid, max_tokens=100_000))
    await conn.wait_for(lambda: conn.for_request("a") and conn.for_request("b"))
    mark = len(conn.log)
    await conn.send(ResyncFrame())
    index, heartbeat = await conn.next_of_type("heartbeat", start=mark)
    assert heartbeat.in_use == {"sim-small": 0}
    await barrier(conn)
    assert conn.for_request("a", start=index + 1) == []
    assert conn.for_request("b", start=index + 1) == []
    assert not [f for f in conn.log if f.type in ("complete", "error")]

    for rid in ("c", "d"):
        await conn.send(request(rid, max_tokens=2))
    for rid in ("c", "d"):
        _, done = await conn.result(rid)
        assert done.type == "complete"


@pytest.mark.parametrize("slots", [1, 3])
async def test_challenge_status_reports_slots_in_use(
    nursery: trio.Nursery, tmp_path: Path, slots: int
) -> None:
    sim = SimulatedConfig(ttft_s=0, tokens_per_s=100, output_tokens=100_000)
    _, agent, conn = await start(nursery, tmp_path, slots=slots, simulated=sim)
    await conn.send(request("a", max_tokens=100_000))
    await conn.wait_for(lambda: conn.for_request("a"))
    nonce = new_nonce()
    await conn.send(ChallengeFrame(nonce=nonce, deadline=time.time() + 10))
    _, resp = await conn.next_of_type("challenge_response")
    assert resp.status.in_use == {"sim-small": 1}
    assert resp.status.load == pytest.approx(1 / slots)
    assert verify_challenge(agent.public_key, nonce, conn.provider_id, resp.status, resp.signature)


class TrackingBackend:
    """A real SimulatedBackend that also records which generations are still running."""

    def __init__(self, config: SimulatedConfig) -> None:
        self.inner = SimulatedBackend(config)
        self.running: set[str] = set()

    async def list_models(self) -> list[ModelInfo]:
        return await self.inner.list_models()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def generate(
        self, model: str, body: dict[str, Any], kind: str = "chat"
    ) -> AsyncGenerator[Event, None]:
        tag = body["messages"][0]["content"]
        self.running.add(tag)
        try:
            async for event in self.inner.generate(model, body):
                yield event
        finally:
            self.running.discard(tag)

    async def wait_stopped(self, tag: str) -> None:
        await wait_until(lambda: tag not in self.running, timeout=10)


async def test_cancel_and_resync_stop_generation(nursery: trio.Nursery, tmp_path: Path) -> None:
    backend = TrackingBackend(SimulatedConfig(ttft_s=0, tokens_per_s=100, output_tokens=100_000))
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    agent = ProviderAgent(make_config(coord.url, tmp_path, slots=3), backend=backend)
    nursery.start_soon(agent.run)
    conn = await coord.next_connection()

    for rid in ("a", "b", "c"):
        await conn.send(request(rid, max_tokens=100_000, content=rid))
    await conn.wait_for(lambda: all(conn.for_request(r) for r in "abc"))
    assert backend.running == {"a", "b", "c"}
    await conn.send(CancelFrame(request_id="a"))
    await backend.wait_stopped("a")
    assert backend.running == {"b", "c"}
    await conn.send(ResyncFrame())
    await backend.wait_stopped("b")
    await backend.wait_stopped("c")
