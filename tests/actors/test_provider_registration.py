"""ProviderRegistrar without HTTP: a socket fake at the edge, the real actor system and store.

What the provider WebSocket route relies on: a registered provider gets an actor (and is
stored), a refusal is a `Closed` with its close code and starts nothing, a token revoked
meanwhile closes the new actor, replacing a live id needs the key proof, and leaving
`connect` stops the actor and records last-seen.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.actors.provider_messages import PROVIDERS_PATH, CloseSocket
from switchyard.actors.provider_registration import Closed, ProviderConnection
from switchyard.coordinator import Coordinator, open_coordinator
from switchyard.protocol.codes import FATAL_CLOSE_CODES, CloseCode
from switchyard.protocol.frames import (
    PROTOCOL_VERSION,
    Attestation,
    ChallengeResponseFrame,
    ModelSpec,
    ProviderStatus,
    RegisterFrame,
    dump_frame,
)
from switchyard.protocol.signing import provider_id_for, public_key_b64, sign_challenge
from switchyard.runtime import DEFAULT_ASK_TIMEOUT, Actor, AskTimeout, ChildSpec
from switchyard.settings import Settings
from switchyard.storage import open_store
from switchyard.storage.models import ProviderTokenRecord

from ..polling import wait_until


class FakeSocket:
    """Text frames in (`feed`) and out (`sent`), as the route's WebSocket would carry them."""

    def __init__(self) -> None:
        self._feed, self._inbox = trio.open_memory_channel[str](16)
        self.sent: list[dict[str, Any]] = []

    async def feed(self, text: str) -> None:
        await self._feed.send(text)

    async def receive(self) -> str:
        return await self._inbox.receive()

    async def send(self, data: str) -> None:
        self.sent.append(json.loads(data))


def register_frame(key: Ed25519PrivateKey, version: int = PROTOCOL_VERSION) -> str:
    frame = RegisterFrame(
        protocol_version=version,
        agent_version="test",
        public_key=public_key_b64(key),
        attestation=Attestation(kind="none"),
        models=[ModelSpec(id="m", slots=2)],
    )
    return dump_frame(frame)


@asynccontextmanager
async def coordinator_on(
    target: tuple[str | None, str | None],
) -> AsyncIterator[tuple[Coordinator, str, ProviderTokenRecord]]:
    """A coordinator (no HTTP) on the store `target`, and a provider token of an owner."""
    url, schema = target
    async with open_store(url, schema=schema) as store, open_coordinator(Settings(), store) as c:
        owner = await store.create_account("owner")
        record, token = await store.create_provider_token(owner.id, "t")
        yield c, token, record


def _alive(coord: Coordinator, provider_id: str) -> bool:
    try:
        coord.system.lookup(f"{PROVIDERS_PATH}/{provider_id}")
    except LookupError:
        return False
    return True


async def _next_outbound(conn: ProviderConnection) -> str | CloseSocket:
    with trio.fail_after(10):
        return await conn.outbound.receive()


async def test_a_registered_provider_gets_an_actor_until_it_leaves(
    store_target: tuple[str | None, str | None],
) -> None:
    key = Ed25519PrivateKey.generate()
    provider_id = provider_id_for(public_key_b64(key))
    async with coordinator_on(store_target) as (coord, token, record):
        socket = FakeSocket()
        await socket.feed(register_frame(key))
        async with coord.registrar.connect(token, record, socket) as conn:
            assert conn.session.provider_id == provider_id
            assert conn.session.attested_trust == "self_signed"
            assert conn.ref.alive and _alive(coord, provider_id)
            first = await _next_outbound(conn)
            assert isinstance(first, str) and json.loads(first)["type"] == "registered"
            stored = await coord.store.get_provider(provider_id)
            assert stored is not None and stored.owner_account_id == record.account_id
            seen = stored.last_seen_at
        assert not _alive(coord, provider_id) and not conn.ref.alive
        after = await coord.store.get_provider(provider_id)
        assert after is not None and after.last_seen_at >= seen


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", CloseCode.INVALID_JSON),
        ('{"type": "heartbeat", "in_use": {}, "load": 0}', CloseCode.PROTOCOL_ERROR),
        (register_frame(Ed25519PrivateKey.generate(), version=99), CloseCode.UNSUPPORTED_VERSION),
    ],
)
async def test_a_refused_register_starts_nothing(frame: str, code: CloseCode) -> None:
    async with coordinator_on((None, None)) as (coord, token, record):
        socket = FakeSocket()
        await socket.feed(frame)
        with pytest.raises(Closed) as refused:
            async with coord.registrar.connect(token, record, socket):
                pytest.fail("admitted")
        assert refused.value.code == code
        assert coord.system.children_refs(PROVIDERS_PATH) == []


async def test_a_token_revoked_meanwhile_closes_the_new_actor(
    store_target: tuple[str | None, str | None],
) -> None:
    async with coordinator_on(store_target) as (coord, token, record):
        await coord.store.revoke_provider_token(record.id)  # after the route's lookup
        socket = FakeSocket()
        await socket.feed(register_frame(Ed25519PrivateKey.generate()))
        async with coord.registrar.connect(token, record, socket) as conn:
            item = await _next_outbound(conn)
            while not isinstance(item, CloseSocket):
                item = await _next_outbound(conn)
            assert item.code == CloseCode.TOKEN_REVOKED


async def test_replacing_a_live_id_takes_the_key_proof() -> None:
    key = Ed25519PrivateKey.generate()
    provider_id = provider_id_for(public_key_b64(key))
    async with coordinator_on((None, None)) as (coord, token, record):
        first = FakeSocket()
        await first.feed(register_frame(key))
        async with coord.registrar.connect(token, record, first) as old:
            # A newcomer with a wrong signature is refused; the live actor is untouched.
            thief = FakeSocket()
            await thief.feed(register_frame(key))
            async with trio.open_nursery() as nursery:

                async def answer_badly() -> None:
                    await wait_until(lambda: thief.sent)
                    nonce = thief.sent[0]["nonce"]
                    wrong = sign_challenge(
                        Ed25519PrivateKey.generate(), nonce, provider_id, ProviderStatus()
                    )
                    reply = ChallengeResponseFrame(
                        nonce=nonce, signature=wrong, status=ProviderStatus()
                    )
                    await thief.feed(dump_frame(reply))

                nursery.start_soon(answer_badly)
                with pytest.raises(Closed) as refused:
                    async with coord.registrar.connect(token, record, thief):
                        pytest.fail("admitted without the key")
            assert refused.value.code == CloseCode.KEY_NOT_PROVEN
            assert old.ref.alive

            # The key holder replaces the old connection once it signs the challenge.
            heir = FakeSocket()
            await heir.feed(register_frame(key))
            async with trio.open_nursery() as nursery:

                async def answer() -> None:
                    await wait_until(lambda: heir.sent)
                    challenge = heir.sent[0]
                    assert challenge["type"] == "challenge"
                    assert challenge["deadline"] > time.time()
                    signature = sign_challenge(
                        key, challenge["nonce"], provider_id, ProviderStatus()
                    )
                    reply = ChallengeResponseFrame(
                        nonce=challenge["nonce"], signature=signature, status=ProviderStatus()
                    )
                    await heir.feed(dump_frame(reply))

                nursery.start_soon(answer)
                async with coord.registrar.connect(token, record, heir) as new:
                    assert not old.ref.alive and new.ref.alive
                    assert _alive(coord, provider_id)


class _SlowStart(Actor):
    """Keeps its supervisor busy starting it for `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def on_start(self) -> None:
        await trio.sleep(self.delay)


async def test_a_provider_whose_actor_cannot_start_in_time_is_told_to_try_again() -> None:
    """The providers supervisor is too far behind (here: one child takes longer to start
    than a registration may wait): the connection closes 1013, which the agent answers by
    reconnecting, and the late start, once it comes, leaves no actor behind."""
    key = Ed25519PrivateKey.generate()
    async with coordinator_on((None, None)) as (coord, token, record):
        slow = ChildSpec("slow", lambda: _SlowStart(DEFAULT_ASK_TIMEOUT + 2))

        async def start_slow() -> None:
            with contextlib.suppress(AskTimeout):  # it starts all the same, only late
                await coord.system.spawn(slow, parent=PROVIDERS_PATH)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(start_slow)
            await trio.sleep(0.2)  # the slow start is under way: the supervisor is busy
            socket = FakeSocket()
            await socket.feed(register_frame(key))
            with pytest.raises(Closed) as refused:
                async with coord.registrar.connect(token, record, socket):
                    pytest.fail("admitted")
            assert refused.value.code == CloseCode.TRY_AGAIN_LATER
            assert CloseCode.TRY_AGAIN_LATER not in FATAL_CLOSE_CODES

        def only_the_slow_child() -> bool:
            return [r.path for r in coord.system.children_refs(PROVIDERS_PATH)] == [
                f"{PROVIDERS_PATH}/slow"
            ]

        await wait_until(only_the_slow_child, timeout=10)
        await trio.sleep(0.5)  # the late provider start has been handled by now
        assert only_the_slow_child()
