"""A `Session` driven by a bare `SessionHost` (no `ProviderAgent`): it serves with the host's
key and backend and reports registration and draining only through the host's callbacks."""

from __future__ import annotations

import math
import time

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from switchyard.agent import AgentConfig, SimulatedBackend, SimulatedConfig, websocket_url
from switchyard.agent.session import Session
from switchyard.agent.session_host import SessionHost, SessionOutcome
from switchyard.protocol.codes import CloseCode
from switchyard.protocol.frames import (
    PROTOCOL_VERSION,
    Attestation,
    ChallengeFrame,
    ModelSpec,
    RegisteredFrame,
    RegisterFrame,
)
from switchyard.protocol.signing import new_nonce, provider_id_for, public_key_b64, verify_challenge

from ..polling import wait_until
from .fakecoord import FakeCoordinator
from .test_agent_session import request


def _register(public_key: str) -> RegisterFrame:
    return RegisterFrame(
        protocol_version=PROTOCOL_VERSION,
        agent_version="test",
        public_key=public_key,
        attestation=Attestation(kind="none"),
        models=[ModelSpec(id="sim-small", slots=1)],
    )


def _host(
    url: str,
    key: Ed25519PrivateKey,
    stopping: trio.Event,
    registered: list[RegisteredFrame],
    draining: list[bool],
) -> SessionHost:
    config = AgentConfig(coordinator=url, token="secret", models=("sim-small",))
    return SessionHost(
        config=config,
        key=key,
        provider_id=provider_id_for(public_key_b64(key)),
        backend=SimulatedBackend(SimulatedConfig(ttft_s=0, tokens_per_s=math.inf)),
        stopping=stopping,
        stop_deadline=lambda: math.inf,
        on_registered=registered.append,
        on_draining=lambda: draining.append(True),
    )


async def test_session_reports_through_its_host(nursery: trio.Nursery) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    key = Ed25519PrivateKey.generate()
    public_key = public_key_b64(key)
    registered: list[RegisteredFrame] = []
    draining: list[bool] = []
    stopping = trio.Event()
    host = _host(coord.url, key, stopping, registered, draining)
    register = _register(public_key)
    outcomes: list[SessionOutcome] = []

    async def serve() -> None:
        headers = [(b"authorization", b"Bearer secret")]
        async with open_websocket_url(websocket_url(coord.url), extra_headers=headers) as ws:
            outcomes.append(await Session(host, ws, register).run())

    nursery.start_soon(serve)
    conn = await coord.next_connection()
    await wait_until(lambda: registered)
    assert registered[0].provider_id == host.provider_id and not draining

    nonce = new_nonce()  # signed with the host's key
    await conn.send(ChallengeFrame(nonce=nonce, deadline=time.time() + 10))
    _, resp = await conn.next_of_type("challenge_response")
    assert verify_challenge(public_key, nonce, host.provider_id, resp.status, resp.signature)

    await conn.send(request("r1", max_tokens=3))  # served by the host's backend
    text, terminal = await conn.result("r1")
    assert terminal.type == "complete" and text

    stopping.set()
    await wait_until(lambda: outcomes)
    assert draining == [True]
    assert outcomes[0].close_code == CloseCode.NORMAL and outcomes[0].finished
    assert len(registered) == 1


class _ReasonlessSocket:
    """The socket's edge: trio-websocket raises `ConnectionClosed(None)` when its receive
    channel ends before any close frame set a reason. `sends` messages go out first."""

    def __init__(self, sends: int) -> None:
        self.sends = sends

    async def send_message(self, message: str | bytes) -> None:
        if self.sends <= 0:
            raise ConnectionClosed(None)
        self.sends -= 1

    async def get_message(self) -> str | bytes:
        raise ConnectionClosed(None)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        return None


async def test_a_close_without_a_reason_ends_the_session_cleanly() -> None:
    key = Ed25519PrivateKey.generate()
    register = _register(public_key_b64(key))
    for sends in (0, 1):  # closed while registering, then while reading
        host = _host("http://127.0.0.1:9", key, trio.Event(), [], [])
        ws: WebSocketConnection = _ReasonlessSocket(sends)  # type: ignore[assignment]
        outcome = await Session(host, ws, register).run()
        assert outcome == SessionOutcome(None, "", registered=False), sends
        assert not outcome.fatal
