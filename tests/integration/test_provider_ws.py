"""The provider WebSocket end to end: registration, challenges, trust, bad frames, crashes."""

from __future__ import annotations

import logging

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    open_websocket_url,
)

from switchyard.actors.attestation import TestHardwareVerifier
from switchyard.protocol.codes import CloseCode

from ..polling import wait_until
from .harness import coordinator, fast_settings, raw_provider


async def test_register_then_challenge_makes_provider_online() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            registered = await p.register()
            assert registered["trust"] == "self_signed"
            assert registered["provider_id"].startswith("prov-")
            info = await running.provider(p.provider_id)
            assert info is not None and info["status"] == "registering"
            await p.pass_challenge()
            info = await wait_until(lambda: _status_is(running, p.provider_id, "online"))
            assert info["models"] == [{"id": "m1", "slots": 2, "in_use": 0}]
            assert info["trust"] == "self_signed" and info["routable"] is True


async def _status_is(running, provider_id: str, status: str):  # type: ignore[no-untyped-def]
    info = await running.provider(provider_id)
    return info if info is not None and info["status"] == status else None


async def test_bad_token_is_refused_before_upgrade() -> None:
    async with coordinator() as running:
        with pytest.raises(HandshakeError):
            headers = [("Authorization", "Bearer pt-sy-not-a-token")]
            async with open_websocket_url(running.ws_url, extra_headers=headers):
                pass


async def test_an_unexpected_error_before_upgrade_is_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()

        async def broken(token: str) -> None:
            raise RuntimeError("store on fire")

        running.coord.store.lookup_provider_token = broken  # type: ignore[method-assign]
        with pytest.raises(ConnectionRejected) as refused:
            headers = [("Authorization", f"Bearer {token}")]
            async with open_websocket_url(running.ws_url, extra_headers=headers):
                pass
    assert refused.value.status_code == 500
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["unhandled error on WEBSOCKET /v1/providers/connect"]


async def test_bad_signature_makes_untrusted_until_a_challenge_passes() -> None:
    settings = fast_settings(challenge_interval_s=0.3, challenge_jitter=0.0)
    async with coordinator(settings) as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            await p.pass_challenge()
            await wait_until(lambda: _status_is(running, p.provider_id, "online"))
            challenge = await p.recv_type("challenge")
            await p.send(p.answer(challenge, key=Ed25519PrivateKey.generate()))
            info = await wait_until(lambda: _status_is(running, p.provider_id, "untrusted"))
            assert info["trust"] == "untrusted" and info["routable"] is False
            # A heartbeat does not restore trust; only a passed challenge does.
            await p.send({"type": "heartbeat", "in_use": {}, "load": 0.5})
            await wait_until(lambda: _provider_node(running, p.provider_id)["state"]["load"] == 0.5)
            assert (await running.provider(p.provider_id))["status"] == "untrusted"
            await p.pass_challenge()
            info = await wait_until(lambda: _status_is(running, p.provider_id, "online"))
            assert info["trust"] == "self_signed"


async def test_replayed_response_counts_as_bad_signature() -> None:
    settings = fast_settings(challenge_interval_s=0.2, challenge_jitter=0.0)
    async with coordinator(settings) as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            first = await p.recv_type("challenge")
            answer = p.answer(first)
            await p.send(answer)
            await wait_until(lambda: _status_is(running, p.provider_id, "online"))
            await p.recv_type("challenge")
            await p.send(answer)  # the old nonce, validly signed: a replay
            await wait_until(lambda: _status_is(running, p.provider_id, "untrusted"))


async def test_missed_deadline_is_unroutable_then_repeated_misses_disconnect() -> None:
    settings = fast_settings(
        challenge_interval_s=0.2,
        challenge_jitter=0.0,
        challenge_deadline_s=0.2,
        challenge_retry_s=0.1,
        max_missed_challenges=3,
    )
    async with coordinator(settings) as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            await p.pass_challenge()
            await wait_until(lambda: _status_is(running, p.provider_id, "online"))
            await p.recv_type("challenge")  # ...and do not answer it
            info = await wait_until(lambda: _routable_is(running, p.provider_id, False))
            assert info["status"] == "online"
            await p.pass_challenge()  # the retry comes soon; answering restores routing
            await wait_until(lambda: _routable_is(running, p.provider_id, True))

            async def heartbeats() -> None:
                while True:
                    await p.heartbeat()
                    await trio.sleep(0.1)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(heartbeats)
                code, error = await p.closed_with(timeout=10)
                nursery.cancel_scope.cancel()
            assert code == CloseCode.CHALLENGE_FAILED
            assert error is not None and "missed" in error["message"]
        await wait_until(lambda: _gone(running, p.provider_id))


async def _routable_is(running, provider_id: str, routable: bool):  # type: ignore[no-untyped-def]
    info = await running.provider(provider_id)
    return info if info is not None and info["routable"] is routable else None


async def _gone(running, provider_id: str) -> bool:  # type: ignore[no-untyped-def]
    return await running.provider(provider_id) is None


async def test_no_heartbeat_means_gone() -> None:
    settings = fast_settings(heartbeat_interval_s=0.1, heartbeat_misses=3)
    async with coordinator(settings) as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            await p.pass_challenge()
            code, _ = await p.closed_with()
            assert code == CloseCode.HEARTBEAT_TIMEOUT
        await wait_until(lambda: _gone(running, p.provider_id))


async def test_hardware_attestation_and_refused_kinds() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        verifier = TestHardwareVerifier(running.coord.settings.provider.test_hardware_secret)
        async with raw_provider(running, token) as p:
            evidence = verifier.evidence_for(p.public_key)
            attestation = {"kind": "test-hardware", "evidence": evidence}
            registered = await p.register(attestation=attestation)
            assert registered["trust"] == "hardware"
        async with raw_provider(running, token) as p:
            await p.send(p.register_frame(attestation={"kind": "test-hardware", "evidence": "f00"}))
            code, error = await p.closed_with()
            assert code == CloseCode.ATTESTATION_REFUSED
        async with raw_provider(running, token) as p:
            await p.send(p.register_frame(attestation={"kind": "tpm-quote", "evidence": "x"}))
            code, error = await p.closed_with()
            assert code == CloseCode.ATTESTATION_REFUSED
            assert "not accepted here" in error["message"]


BAD_FRAMES = [
    ("not json at all", CloseCode.INVALID_JSON),
    ('{"type": "teleport"}', CloseCode.UNKNOWN_TYPE),
    ('{"type": "heartbeat", "in_use": {}, "load": -1}', CloseCode.VALIDATION_FAILED),
    ('{"type": "heartbeat", "load": "NaN"}', CloseCode.VALIDATION_FAILED),
    ('{"type":"chunk","request_id":"nope","deltas":[{"content":"x"}]}', CloseCode.UNKNOWN_REQUEST),
    (
        '{"type":"chunk_batch","chunks":[{"request_id":"nope","deltas":[{"content":"x"}]}]}',
        CloseCode.UNKNOWN_REQUEST,
    ),
    ('{"type":"chunk_batch","chunks":[]}', CloseCode.VALIDATION_FAILED),
    ("x" * (1024 * 1024 + 1), CloseCode.FRAME_TOO_LARGE),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_bad_frames_close_with_codes_and_spare_other_providers(frame: str, code: int) -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as good, raw_provider(running, token) as bad:
            await good.register()
            await good.pass_challenge()
            await bad.register()
            await bad.send(frame)
            got, error = await bad.closed_with()
            assert got == code
            assert error is not None and error["code"] == code
            await good.heartbeat()
            info = await wait_until(lambda: _status_is(running, good.provider_id, "online"))
            assert info["id"] == good.provider_id
        await wait_until(lambda: _no_providers(running))


async def _no_providers(running) -> bool:  # type: ignore[no-untyped-def]
    return await running.providers() == []


async def test_register_twice_and_non_register_first() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            await p.send(p.register_frame())
            code, _ = await p.closed_with()
            assert code == CloseCode.DUPLICATE_REGISTER
        async with raw_provider(running, token) as p:
            await p.heartbeat()
            code, _ = await p.closed_with()
            assert code == CloseCode.PROTOCOL_ERROR
        async with raw_provider(running, token) as p:
            await p.send(p.register_frame(protocol_version=99))
            code, _ = await p.closed_with()
            assert code == CloseCode.UNSUPPORTED_VERSION


async def test_an_older_agent_is_told_to_upgrade() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.send(p.register_frame(protocol_version=2))  # before the request kinds
            code, error = await p.closed_with()
    assert code == CloseCode.UNSUPPORTED_VERSION
    assert error is not None and error["message"] == (
        "protocol version 2 is not supported: upgrade the agent (this coordinator speaks 3)"
    )


async def test_actor_crash_restarts_on_same_socket_and_asks_for_resync() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            await p.pass_challenge()
            await wait_until(lambda: _status_is(running, p.provider_id, "online"))
            ref = running.coord.system.lookup(f"/root/providers/{p.provider_id}")
            ref.tell(object())  # an unhandled message: the actor crashes
            await p.recv_type("resync")
            providers = _providers_node(running)["children"]
            assert providers[0]["restarts"] == 1
            assert providers[0]["last_error"]["type"] == "UnhandledMessage"
            # The new instance re-challenges before routing again.
            assert (await running.provider(p.provider_id))["status"] == "registering"
            await p.pass_challenge()
            await wait_until(lambda: _status_is(running, p.provider_id, "online"))


async def test_hundred_providers_come_and_go_leaving_nothing_behind() -> None:
    """100 providers connect at once, each staying live (heartbeats, challenge answers)
    until all are online, then all leave: nothing of them remains. Each handshake step has
    its own timeout, so waiting for all of them scales with the work rather than a guess;
    a provider the coordinator closes fails the test with the close it got."""
    count = 100
    async with coordinator() as running:
        _, token = await running.provider_token()
        handshakes_done = trio.Semaphore(0)
        leave = trio.Event()

        async def one() -> None:
            while True:  # a fresh key (and id) per attempt: a refused one holds no name
                async with raw_provider(running, token) as p:
                    try:
                        # The coordinator answers within its own bounds (the register
                        # frame's read, the actor's start): wait longer than those.
                        registered = await p.register(timeout=REGISTRATION_WAIT_S)
                    except ConnectionClosed as closed:
                        # Too many starts at once on a loaded machine: the coordinator says
                        # so (1013) and the provider reconnects, as the agent does.
                        if closed.reason.code != CloseCode.TRY_AGAIN_LATER:
                            raise
                        continue
                    async with trio.open_nursery() as live:
                        await live.start(p.stay_online, registered["heartbeat_interval_s"])
                        handshakes_done.release()
                        await leave.wait()
                        live.cancel_scope.cancel()
                    return

        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(one)
            for _ in range(count):
                await handshakes_done.acquire()

            async def all_online() -> bool:
                ps = await running.providers()
                return len(ps) == count and all(p["status"] == "online" for p in ps)

            await wait_until(all_online)
            leave.set()
        await wait_until(lambda: _no_providers(running), timeout=15)
        assert _providers_node(running)["children"] == []
        stats = await running.coord.scheduler.ask(_stats())
        assert stats["providers_known"] == 0 and stats["reserved_total"] == 0


#: Longer than anything the coordinator waits for while registering a provider.
REGISTRATION_WAIT_S = 30.0


def _stats():  # type: ignore[no-untyped-def]
    from switchyard.actors.scheduler_messages import SchedulerStats

    return SchedulerStats()


def _providers_node(running) -> dict:  # type: ignore[no-untyped-def]
    tree = running.coord.system.snapshot()["tree"]
    return next(c for c in tree["children"] if c["path"] == "/root/providers")


def _provider_node(running, provider_id: str) -> dict:  # type: ignore[no-untyped-def]
    """The provider actor's inspection node: its `state` (describe()) and `handled` count."""
    return _node_of(running, f"/root/providers/{provider_id}")


def _node_of(running, path: str) -> dict:  # type: ignore[no-untyped-def]
    return next(c for c in _providers_node(running)["children"] if c["path"] == path)


async def test_restarted_scheduler_relearns_capacity_from_providers() -> None:
    from .harness import scheduler_stats

    async with coordinator() as running:
        _, token = await running.provider_token()
        async with raw_provider(running, token) as p:
            await p.register()
            await p.pass_challenge()
            await wait_until(lambda: _status_is(running, p.provider_id, "online"))
            running.coord.scheduler.tell(object())  # crash the scheduler: it restarts empty

            async def indexed() -> bool:
                stats = await scheduler_stats(running)
                return stats["providers_indexed"] == 1

            await wait_until(indexed)
            tree = running.coord.system.snapshot()["tree"]
            scheduler = next(c for c in tree["children"] if c["path"] == "/root/scheduler")
            assert scheduler["restarts"] == 1


async def test_closing_while_frames_keep_arriving_closes_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The actor closes the socket while the reader is still handing it frames: one close,
    with the actor's code, and nothing logged as an unhandled error."""
    from switchyard.actors.provider_messages import PROVIDERS_PATH, Disconnect

    async with coordinator() as running:
        _, token = await running.provider_token()
        for _ in range(5):
            async with raw_provider(running, token) as p:
                await p.register()
                ref = running.coord.system.lookup(f"{PROVIDERS_PATH}/{p.provider_id}")

                async def flood(p: object = p) -> None:
                    try:
                        while True:
                            await p.heartbeat()  # type: ignore[attr-defined]
                    except ConnectionClosed:
                        return

                handled = _node_of(running, ref.path)["handled"]
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(flood)
                    # Frames are flowing into the actor when it decides to close.
                    await wait_until(
                        lambda n=handled, at=ref.path: _node_of(running, at)["handled"] > n + 10
                    )
                    ref.tell(Disconnect(CloseCode.DRAINED, "test"))
                    code, _ = await p.closed_with()
                    nursery.cancel_scope.cancel()
                assert code == CloseCode.DRAINED
        await wait_until(lambda: _no_providers(running))
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
