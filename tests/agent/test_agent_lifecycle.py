"""Agent lifecycle: drain, graceful stop, reconnects, fatal close codes, identity persistence."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
import trio

from switchyard.agent import AgentFatalError, ProviderAgent, SimulatedConfig, simulated_text
from switchyard.agent.config import AgentConfig
from switchyard.agent.identity import load_or_create_key
from switchyard.protocol.codes import CloseCode
from switchyard.protocol.frames import DrainFrame, ProtocolErrorFrame
from switchyard.protocol.signing import provider_id_for, public_key_b64

from .fakecoord import FakeCoordinator
from .test_agent_session import make_config, request, start

SLOW = SimulatedConfig(ttft_s=0, tokens_per_s=100, output_tokens=100_000)


class Runner:
    """Runs `agent.run()` in the background and records how it ended."""

    def __init__(self, agent: ProviderAgent) -> None:
        self.agent = agent
        self.done = trio.Event()
        self.error: BaseException | None = None

    async def __call__(self) -> None:
        try:
            await self.agent.run()
        except AgentFatalError as exc:
            self.error = exc
        finally:
            self.done.set()

    async def wait(self) -> None:
        with trio.fail_after(10):
            await self.done.wait()


async def run_agent(
    nursery: trio.Nursery, coord: FakeCoordinator, tmp_path: Path, **overrides: object
) -> Runner:
    runner = Runner(ProviderAgent(make_config(coord.url, tmp_path, **overrides)))
    nursery.start_soon(runner)
    return runner


async def test_drain_finishes_in_flight_then_closes(nursery: trio.Nursery, tmp_path: Path) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    runner = await run_agent(nursery, coord, tmp_path, slots=2, simulated=SLOW)
    conn = await coord.next_connection()

    await conn.send(request("a", max_tokens=20))
    await conn.wait_for(lambda: conn.for_request("a"))
    await conn.send(DrainFrame())
    await conn.send(request("b"))
    _, refused = await conn.result("b")
    assert (refused.type, refused.code, refused.retryable) == ("error", "draining", True)
    text, done = await conn.result("a")
    assert done.type == "complete"
    assert text == simulated_text(20)

    await runner.wait()
    assert runner.error is None
    with trio.fail_after(10):
        await conn.closed.wait()
    assert conn.close_code == CloseCode.NORMAL
    assert coord.pending_connections() == 0


async def test_stop_is_graceful(nursery: trio.Nursery, tmp_path: Path) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    runner = await run_agent(nursery, coord, tmp_path, simulated=SLOW)
    conn = await coord.next_connection()
    await conn.send(request("a", max_tokens=20))
    await conn.wait_for(lambda: conn.for_request("a"))

    runner.agent.stop(grace_s=30)
    await conn.send(request("b"))
    _, refused = await conn.result("b")
    assert refused.code == "draining"
    _, done = await conn.result("a")
    assert done.type == "complete"
    await runner.wait()
    assert runner.error is None
    with trio.fail_after(10):
        await conn.closed.wait()
    assert conn.close_code == CloseCode.NORMAL


async def test_stop_grace_expiry_fails_in_flight_retryably(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    runner = await run_agent(nursery, coord, tmp_path, simulated=SLOW)
    conn = await coord.next_connection()
    await conn.send(request("a", max_tokens=100_000))
    await conn.wait_for(lambda: conn.for_request("a"))

    runner.agent.stop(grace_s=0.05)
    _, done = await conn.result("a")
    assert (done.type, done.code, done.retryable) == ("error", "provider_shutdown", True)
    await runner.wait()
    with trio.fail_after(10):
        await conn.closed.wait()
    assert conn.close_code == CloseCode.NORMAL


async def test_reconnects_after_coordinator_restart(nursery: trio.Nursery, tmp_path: Path) -> None:
    first = FakeCoordinator()
    await nursery.start(first.run)
    port = first.port
    _, agent, conn = await start(nursery, tmp_path, first)
    assert agent.registrations == 1

    first.stop()
    second = FakeCoordinator()
    await nursery.start(second.run, port)
    conn2 = await second.next_connection()
    assert conn2.register.public_key == conn.register.public_key
    await conn2.send(request("after", max_tokens=3))
    text, done = await conn2.result("after")
    assert (text, done.type) == (simulated_text(3), "complete")
    assert agent.registrations == 2


async def test_fails_over_to_the_next_coordinator(nursery: trio.Nursery, tmp_path: Path) -> None:
    first, second = FakeCoordinator(), FakeCoordinator()
    await nursery.start(first.run)
    await nursery.start(second.run)
    with socket.socket() as s:  # a port nobody listens on: the list's first entry is dead
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    urls = f"{dead}, {first.url},{second.url}"
    runner = await run_agent(nursery, first, tmp_path, coordinator=urls)
    conn = await first.next_connection()  # the dead one was skipped
    await conn.close(CloseCode.SHUTDOWN, "replica going away")
    conn2 = await second.next_connection()  # failed over to the next, not back to first
    await conn2.send(request("moved", max_tokens=3))
    text, done = await conn2.result("moved")
    assert (text, done.type) == (simulated_text(3), "complete")
    assert runner.agent.registrations == 2
    assert first.pending_connections() == 0


def test_coordinators_are_listed_in_order() -> None:
    config = AgentConfig(coordinator="http://a:1, http://b:2,,", token="t")
    assert config.coordinators == ("http://a:1", "http://b:2")
    with pytest.raises(ValueError, match="coordinator URL"):
        AgentConfig(coordinator="http://a:1,ftp://b", token="t")


@pytest.mark.parametrize("code", [CloseCode.SHUTDOWN, CloseCode.HEARTBEAT_TIMEOUT, 1011])
async def test_reconnects_after_non_fatal_close(
    nursery: trio.Nursery, tmp_path: Path, code: int
) -> None:
    coord, _, conn = await start(nursery, tmp_path)
    await conn.close(code, "bye")
    conn2 = await coord.next_connection()
    assert conn2.register.public_key == conn.register.public_key
    await conn2.send(request("x", max_tokens=1))
    _, done = await conn2.result("x")
    assert done.type == "complete"


@pytest.mark.parametrize(
    "code",
    [CloseCode.UNAUTHORIZED, CloseCode.ATTESTATION_REFUSED, CloseCode.UNSUPPORTED_VERSION],
)
async def test_fatal_close_codes_end_the_agent(
    nursery: trio.Nursery, tmp_path: Path, code: CloseCode
) -> None:
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    runner = await run_agent(nursery, coord, tmp_path)
    conn = await coord.next_connection()
    await conn.send(ProtocolErrorFrame(code=int(code), message="go away"))
    await conn.close(code, "go away")
    await runner.wait()
    assert isinstance(runner.error, AgentFatalError)
    assert runner.error.code == code
    assert coord.attempts == 1


async def test_rejected_token_is_fatal(nursery: trio.Nursery, tmp_path: Path) -> None:
    coord = FakeCoordinator(token="the-right-one")
    await nursery.start(coord.run)
    runner = await run_agent(nursery, coord, tmp_path)
    await runner.wait()
    assert isinstance(runner.error, AgentFatalError)
    assert runner.error.code == CloseCode.UNAUTHORIZED
    assert coord.attempts == 1


async def test_transient_handshake_failures_are_retried(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    coord = FakeCoordinator(reject_first=3, reject_status=503)
    await nursery.start(coord.run)
    await run_agent(nursery, coord, tmp_path)
    conn = await coord.next_connection()
    assert coord.attempts == 4
    await conn.send(request("x", max_tokens=1))
    _, done = await conn.result("x")
    assert done.type == "complete"


async def test_gives_up_after_max_reconnects(nursery: trio.Nursery, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    coord = FakeCoordinator()
    coord.port = port
    runner = await run_agent(nursery, coord, tmp_path, max_reconnects=2)
    await runner.wait()
    assert isinstance(runner.error, AgentFatalError)
    assert "gave up" in runner.error.reason


async def test_bad_coordinator_frame_closes_and_reconnects(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    coord, _, conn = await start(nursery, tmp_path)
    await conn.send('{"type": "launch_missiles"}')
    with trio.fail_after(10):
        await conn.closed.wait()
    assert conn.close_code == CloseCode.UNKNOWN_TYPE
    await coord.next_connection()


async def test_missing_registered_frame_reconnects(nursery: trio.Nursery, tmp_path: Path) -> None:
    coord = FakeCoordinator(auto_register=False)
    await nursery.start(coord.run)
    await run_agent(nursery, coord, tmp_path, register_timeout_s=0.1)
    conn = await coord.next_connection()
    with trio.fail_after(10):
        await conn.closed.wait()
    assert conn.close_code == CloseCode.PROTOCOL_ERROR
    await coord.next_connection()


async def test_stop_while_disconnected_returns(nursery: trio.Nursery, tmp_path: Path) -> None:
    coord = FakeCoordinator(reject_first=1_000_000)
    await nursery.start(coord.run)
    runner = await run_agent(nursery, coord, tmp_path, reconnect_base_s=5, reconnect_cap_s=5)
    with trio.fail_after(10):
        await coord.first_attempt.wait()
    runner.agent.stop()
    await runner.wait()
    assert runner.error is None


def test_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "provider_key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_or_create_key(path)
    assert public_key_b64(again) == public_key_b64(key)

    path.chmod(0o644)
    assert public_key_b64(load_or_create_key(path)) == public_key_b64(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["provider_key"]


async def test_agents_sharing_a_key_file_share_an_identity(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    config = make_config("http://127.0.0.1:1", tmp_path)
    first, second = ProviderAgent(config), ProviderAgent(config)
    assert first.provider_id == second.provider_id
    assert first.provider_id == provider_id_for(first.public_key)
    assert stat.S_IMODE(config.key_file.stat().st_mode) == 0o600

    _, agent, conn = await start(nursery, tmp_path)
    assert conn.provider_id == first.provider_id == agent.provider_id


async def test_invalid_configuration_is_fatal_before_connecting(tmp_path: Path) -> None:
    config = make_config("http://127.0.0.1:1", tmp_path, attestation_kind="Not A Kind")
    with pytest.raises(AgentFatalError, match="invalid provider configuration"):
        await ProviderAgent(config).run()
