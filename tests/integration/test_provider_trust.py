"""Provider-side trust: unsolicited challenge answers, key proof on replacement, token revocation.

A raw trio-websocket client plays the misbehaving or hostile provider; well-behaved
providers are real agents (simulated backend) wherever the test is about not disturbing them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from switchyard.actors.provider_messages import PROVIDERS_PATH
from switchyard.agent.client import AgentFatalError, ProviderAgent
from switchyard.agent.config import AgentConfig
from switchyard.agent.simulated import SimulatedConfig
from switchyard.protocol.codes import CloseCode
from switchyard.protocol.signing import provider_id_for
from switchyard.storage import open_store

from ..polling import wait_until
from .harness import (
    Running,
    coordinator,
    fast_settings,
    online_provider,
    raw_provider,
)
from .test_admin_cli import cli_json


def _state(running: Running, provider_id: str) -> dict[str, Any] | None:
    states = running.coord.system.children_states(PROVIDERS_PATH)
    return next((s for s in states if s.get("id") == provider_id), None)


def _unsolicited(status: dict[str, Any]) -> dict[str, Any]:
    return {"type": "challenge_response", "nonce": "ab" * 32, "signature": "", "status": status}


# -- #3: challenge_response frames nobody asked for ------------------------------------


async def test_unsolicited_challenge_responses_close_the_socket_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="switchyard")
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with online_provider(running, token) as p:
            caplog.clear()
            tasks_before = running.coord.system.task_count()

            async def flood() -> None:
                try:
                    for _ in range(2_000):
                        await p.send(_unsolicited(p.status))
                except ConnectionClosed:
                    return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                code, error = await p.closed_with()
                nursery.cancel_scope.cancel()
            assert code == CloseCode.UNSOLICITED_RESPONSE
            assert error is not None and "no challenge" in error["message"]
        await wait_until(lambda: _gone(running, p.provider_id))
        assert running.coord.system.task_count() < tasks_before
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


async def _gone(running: Running, provider_id: str) -> bool:
    return await running.provider(provider_id) is None


async def test_a_late_answer_to_a_missed_challenge_is_ignored_not_punished() -> None:
    settings = fast_settings(
        challenge_interval_s=30.0, challenge_deadline_s=0.2, challenge_retry_s=0.5
    )
    async with coordinator(settings) as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            challenge = await p.recv_type("challenge")

            async def overdue() -> bool:
                state = _state(running, p.provider_id)
                return bool(state and state["challenges"]["overdue"])

            await wait_until(overdue)
            await p.send(p.answer(challenge))  # valid, but after its deadline
            await p.pass_challenge()  # the retry
            info = await wait_until(lambda: _online_and_routable(running, p.provider_id))
            assert info["trust"] == "self_signed"
            state = _state(running, p.provider_id)
            assert state is not None
            assert state["challenges"] == {"passed": 1, "failed": 1, "overdue": False}
            await p.send(p.answer(challenge))  # the late nonce again: nothing is outstanding
            code, _ = await p.closed_with()
            assert code == CloseCode.UNSOLICITED_RESPONSE


async def _online_and_routable(running: Running, provider_id: str) -> dict[str, Any] | None:
    info = await running.provider(provider_id)
    return info if info and info["status"] == "online" and info["routable"] else None


async def test_answers_straddling_an_actor_restart_keep_the_provider_trusted() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            before = await p.recv_type("challenge")  # outstanding when the actor crashes
            running.coord.system.lookup(f"{PROVIDERS_PATH}/{p.provider_id}").tell(object())
            await p.recv_type("resync")
            after = await p.recv_type("challenge")
            await p.send(p.answer(before))  # the old instance's nonce: late, ignored
            await p.send(p.answer(after))
            info = await wait_until(lambda: _online_and_routable(running, p.provider_id))
            assert info["trust"] == "self_signed"
            state = _state(running, p.provider_id)
            assert state is not None and state["challenges"]["failed"] == 0


async def test_floods_of_heartbeats_and_late_frames_arm_no_timers_and_log_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="switchyard")
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with online_provider(running, token) as p:
            caplog.clear()
            tasks_before = running.coord.system.task_count()
            for _ in range(2_000):
                await p.heartbeat()
            state = await wait_until(lambda: _handled_at_least(running, p.provider_id, 2_000))
            assert state is not None
            assert running.coord.system.task_count() <= tasks_before
            assert (await running.provider(p.provider_id))["routable"] is True
    assert not [r for r in caplog.records if r.name.startswith("switchyard.actors")]


async def _handled_at_least(running: Running, provider_id: str, n: int) -> dict[str, Any] | None:
    tree = running.coord.system.snapshot()["tree"]
    providers = next(c for c in tree["children"] if c["path"] == PROVIDERS_PATH)
    node = next((c for c in providers["children"] if c["state"].get("id") == provider_id), None)
    return node if node is not None and node["handled"] >= n else None


# -- #13: a token of the same account is not the provider's key -------------------------


def _agent(running: Running, token: str, key: Ed25519PrivateKey | None = None) -> ProviderAgent:
    config = AgentConfig(
        coordinator=running.base_url,
        token=token,
        models=("sim-small",),
        slots=2,
        simulated=SimulatedConfig(ttft_s=0.0, tokens_per_s=2000.0),
        reconnect_base_s=0.05,
        reconnect_cap_s=0.5,
        shutdown_grace_s=0.5,
    )
    return ProviderAgent(config, key=key or Ed25519PrivateKey.generate())


@asynccontextmanager
async def live_agent(running: Running, agent: ProviderAgent) -> AsyncIterator[list[BaseException]]:
    """Run `agent` until the block ends; yields the list its fatal error (if any) lands in."""
    failures: list[BaseException] = []

    async def run() -> None:
        try:
            await agent.run()
        except AgentFatalError as exc:
            failures.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)

        async def online() -> bool:
            routable = await _online_and_routable(running, agent.provider_id)
            return agent.state == "online" and routable is not None

        await wait_until(online)
        try:
            yield failures
        finally:
            agent.stop(0.2)


@pytest.mark.parametrize("attack", ["wrong_key", "silence", "other_frame"])
async def test_a_same_account_token_cannot_kick_a_live_agent_without_its_key(attack: str) -> None:
    settings = fast_settings(challenge_deadline_s=0.5)
    async with coordinator(settings) as running:
        _, token = await running.provider_token()
        agent = _agent(running, token)
        async with live_agent(running, agent):
            path = f"{PROVIDERS_PATH}/{agent.provider_id}"
            ref = running.coord.system.lookup(path)
            async with raw_provider(running, token) as attacker:
                await attacker.send(attacker.register_frame(public_key=agent.public_key))
                first = await attacker.recv()
                assert first["type"] == "challenge"  # no `registered` before the key is proven
                attacker.provider_id = agent.provider_id
                if attack == "wrong_key":
                    await attacker.send(attacker.answer(first))  # signed with its own key
                elif attack == "other_frame":
                    await attacker.heartbeat()
                code, error = await attacker.closed_with()
            want = CloseCode.PROTOCOL_ERROR if attack == "other_frame" else CloseCode.KEY_NOT_PROVEN
            assert code == want, error
            # The live provider never noticed: same actor, never restarted, same session.
            assert running.coord.system.lookup(path) is ref
            node = await _handled_at_least(running, agent.provider_id, 0)
            assert node is not None and node["restarts"] == 0
            assert agent.registrations == 1 and agent.state == "online"
            assert await _online_and_routable(running, agent.provider_id)


async def test_the_real_agent_proves_its_key_and_replaces_a_stale_connection() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        key = Ed25519PrivateKey.generate()
        async with online_provider(running, token) as stale:
            pass  # warm-up: a provider of another key comes and goes
        await wait_until(lambda: _gone(running, stale.provider_id))
        async with raw_provider(running, token, key) as stale:
            await stale.register()
            await stale.pass_challenge()
            agent = _agent(running, token, key)
            async with live_agent(running, agent) as failures:
                code, error = await stale.closed_with()
                assert code == CloseCode.PROTOCOL_ERROR
                assert error is not None and "replaced" in error["message"]
                assert agent.registrations == 1 and not failures
                assert len(await running.providers()) == 1


async def test_a_newer_raw_connection_must_sign_before_it_replaces() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        key = Ed25519PrivateKey.generate()
        async with raw_provider(running, token, key) as old:
            await old.register()
            async with raw_provider(running, token, key) as new:
                await new.send(new.register_frame())
                challenge = await new.recv()
                assert challenge["type"] == "challenge"
                assert (await running.provider(old.provider_id)) is not None
                new.provider_id = provider_id_for(new.public_key)
                await new.send(new.answer(challenge))
                registered = await new.recv_type("registered")
                assert registered["provider_id"] == old.provider_id
                code, _ = await old.closed_with()
                assert code == CloseCode.PROTOCOL_ERROR
                await new.pass_challenge()
                await wait_until(lambda: _online_and_routable(running, new.provider_id))


# -- #12: revoking provider tokens ---------------------------------------------------------


async def _token(running: Running, account_id: str) -> tuple[str, str]:
    body = {"account_id": account_id, "name": "agent"}
    created = (await running.admin.post("/admin/provider-tokens", json=body)).json()
    return created["id"], created["token"]


async def test_revoking_a_provider_token_closes_its_connections_and_refuses_it(
    store_target: tuple[str | None, str | None],
) -> None:
    url, schema = store_target
    async with (
        open_store(url, schema=schema) as store,
        coordinator(fast_settings(), store) as running,
    ):
        owner_id, _ = await running.provider_token()
        token_id, token = await _token(running, owner_id)
        _, spared_token = await _token(running, owner_id)
        agent = _agent(running, token)
        async with (
            live_agent(running, agent) as failures,
            online_provider(running, token) as raw,
            online_provider(running, spared_token) as spared,
        ):
            reply = await running.admin.delete(f"/admin/provider-tokens/{token_id}")
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["id"] == token_id and body["revoked"] is True
            assert sorted(body["disconnected"]) == sorted([agent.provider_id, raw.provider_id])
            code, error = await raw.closed_with()
            assert code == CloseCode.TOKEN_REVOKED and error is not None
            await wait_until(lambda: _true(bool(failures)))
            assert isinstance(failures[0], AgentFatalError)
            assert failures[0].code == CloseCode.TOKEN_REVOKED
            assert [p["id"] for p in await running.providers()] == [spared.provider_id]
        with pytest.raises(ConnectionRejected) as refused:
            headers = [("Authorization", f"Bearer {token}")]
            async with open_websocket_url(running.ws_url, extra_headers=headers):
                pass
        assert refused.value.status_code == 401
        again = await running.admin.delete(f"/admin/provider-tokens/{token_id}")
        assert again.status_code == 200 and again.json()["disconnected"] == []
        missing = await running.admin.delete("/admin/provider-tokens/ptk_nope")
        assert missing.status_code == 404


async def _true(value: bool) -> bool:
    return value


async def test_a_token_revoked_while_its_connection_registers_cannot_finish() -> None:
    async with coordinator() as running:
        owner_id, _ = await running.provider_token()
        token_id, token = await _token(running, owner_id)
        async with raw_provider(running, token) as p:  # authenticated at the handshake
            reply = await running.admin.delete(f"/admin/provider-tokens/{token_id}")
            assert reply.json()["disconnected"] == []
            await p.send(p.register_frame())
            code, _ = await p.closed_with()
            assert code == CloseCode.TOKEN_REVOKED
        await wait_until(lambda: _no_providers(running))


async def _no_providers(running: Running) -> bool:
    return await running.providers() == []


async def test_cli_revokes_a_provider_token() -> None:
    async with coordinator() as running:
        account = await cli_json(running, "accounts", "create", "owner")
        created = await cli_json(running, "provider-tokens", "create", account["id"])
        async with online_provider(running, created["token"]) as p:
            revoked = await cli_json(running, "provider-tokens", "revoke", created["id"])
            want = {"id": created["id"], "revoked": True, "disconnected": [p.provider_id]}
            assert revoked == want
            code, _ = await p.closed_with()
            assert code == CloseCode.TOKEN_REVOKED
