"""Admission on the provider socket: the `register` frame, key proof, and the actor's start.

A register frame names a provider id (a digest of its public key), but a token of the same
account is all it takes to send one. So when that id is already connected, the newcomer
must first prove it holds the key: before `registered` it gets a `challenge`, signed like
any other, and the older connection is replaced only after a valid signature arrives
within the challenge deadline. Otherwise the newcomer is closed (4016, or 4000 for a
frame other than `challenge_response`) and the live provider is never touched. A provider
id that is not connected needs no proof here: its actor challenges it before routing.
"""

from __future__ import annotations

import contextlib
import logging
import time

import trio
from quart import websocket

from ..actors.attestation import AttestationRefused
from ..actors.provider import ProviderActor
from ..actors.provider_messages import PROVIDERS_PATH, CloseSocket, Disconnect
from ..actors.provider_session import ProviderSession
from ..coordinator import Coordinator
from ..protocol.codes import CloseCode, FrameError
from ..protocol.frames import (
    PROTOCOL_VERSION,
    ChallengeFrame,
    ChallengeResponseFrame,
    RegisterFrame,
    dump_frame,
    parse_provider_frame,
)
from ..protocol.signing import new_nonce, provider_id_for, verify_challenge
from ..protocol.vocabulary import Trust
from ..runtime import ActorRef, ActorStopped, AskTimeout, ChildExists, ChildSpec, Restart
from ..storage.errors import StoreError
from ..storage.models import ProviderTokenRecord

log = logging.getLogger(__name__)

REGISTER_TIMEOUT_S = 10.0
#: How often a proven newcomer retries when another connection of its id keeps winning.
MAX_START_ATTEMPTS = 5

Outbound = trio.MemoryReceiveChannel[str | CloseSocket]


class Closed(Exception):
    """The socket must close with `code` (after a protocol_error frame for 4xxx)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def admit(
    coord: Coordinator, token: ProviderTokenRecord
) -> tuple[ProviderSession, Outbound, ActorRef]:
    """Register the provider on this socket and start its actor; raises Closed if refused."""
    frame, trust = await _read_register(coord)
    provider_id = provider_id_for(frame.public_key)
    replacing = _connected(coord, provider_id)
    if replacing:  # proven before anything is stored or replaced
        await _prove_key(coord, frame.public_key, provider_id)
    try:
        await coord.store.upsert_provider(provider_id, token.account_id, frame.public_key, trust)
    except StoreError as exc:
        raise Closed(CloseCode.UNAUTHORIZED, f"provider refused: {exc}") from None
    settings = coord.settings.provider
    outbound_send, outbound_receive = trio.open_memory_channel[str | CloseSocket](
        settings.outbound_buffer
    )
    session = ProviderSession(
        provider_id=provider_id,
        owner_account_id=token.account_id,
        token_id=token.id,
        public_key=frame.public_key,
        attested_trust=trust,
        register=frame,
        outbound=outbound_send,
        settings=settings,
    )
    ref = await _start_actor(coord, session, proven=replacing)
    return session, outbound_receive, ref


async def _read_register(coord: Coordinator) -> tuple[RegisterFrame, Trust]:
    with trio.move_on_after(REGISTER_TIMEOUT_S) as scope:
        text = await websocket.receive()
    if scope.cancelled_caught:
        raise Closed(CloseCode.PROTOCOL_ERROR, "no register frame in time")
    try:
        frame = parse_provider_frame(text)
    except FrameError as exc:
        raise Closed(exc.code, exc.message) from None
    if not isinstance(frame, RegisterFrame):
        raise Closed(CloseCode.PROTOCOL_ERROR, "the first frame must be register")
    if frame.protocol_version != PROTOCOL_VERSION:
        raise Closed(
            CloseCode.UNSUPPORTED_VERSION,
            f"protocol version {frame.protocol_version} unsupported (need {PROTOCOL_VERSION})",
        )
    try:
        trust = coord.attestation.trust_for(frame.public_key, frame.attestation)
    except AttestationRefused as exc:
        raise Closed(CloseCode.ATTESTATION_REFUSED, str(exc)) from None
    return frame, trust


def _path(provider_id: str) -> str:
    return f"{PROVIDERS_PATH}/{provider_id}"


def _connected(coord: Coordinator, provider_id: str) -> bool:
    try:
        coord.system.lookup(_path(provider_id))
    except LookupError:
        return False
    return True


async def _prove_key(coord: Coordinator, public_key: str, provider_id: str) -> None:
    """Challenge the newcomer once; returns only if it signed with the provider's key."""
    deadline_s = coord.settings.provider.challenge_deadline_s
    nonce = new_nonce()
    challenge = ChallengeFrame(nonce=nonce, deadline=time.time() + deadline_s)
    await websocket.send(dump_frame(challenge))
    with trio.move_on_after(deadline_s) as scope:
        text = await websocket.receive()
    if scope.cancelled_caught:
        raise _not_proven(provider_id, "no challenge_response within the deadline")
    try:
        frame = parse_provider_frame(text)
    except FrameError as exc:
        raise Closed(exc.code, exc.message) from None
    if not isinstance(frame, ChallengeResponseFrame):
        raise Closed(CloseCode.PROTOCOL_ERROR, "expected a challenge_response proving the key")
    signed = frame.nonce == nonce and verify_challenge(
        public_key, nonce, provider_id, frame.status, frame.signature
    )
    if not signed:
        raise _not_proven(provider_id, "bad challenge signature")


def _not_proven(provider_id: str, why: str) -> Closed:
    log.warning("provider %s: a new connection did not prove the key (%s)", provider_id, why)
    return Closed(CloseCode.KEY_NOT_PROVEN, f"{provider_id} is connected; key not proven: {why}")


async def _replace(coord: Coordinator, path: str) -> None:
    """Close the older connection of this provider and wait until its actor is gone."""
    try:
        old = coord.system.lookup(path)
    except LookupError:
        return
    with contextlib.suppress(ActorStopped, AskTimeout):
        await old.ask(Disconnect(CloseCode.PROTOCOL_ERROR, "replaced by a newer connection"))
    await coord.system.stop(path)  # returns once the old actor is gone and its name free


async def _start_actor(coord: Coordinator, session: ProviderSession, proven: bool) -> ActorRef:
    """Spawn the provider's actor, replacing an older connection only once the key is proven.

    Another connection of the same id may win the name between our look and our spawn
    (the supervisor refuses the second start): then this one must prove the key too.
    """
    path = _path(session.provider_id)

    def factory() -> ProviderActor:
        return ProviderActor(session)

    spec = ChildSpec(session.provider_id, factory, restart=Restart.TRANSIENT, mailbox_size=4096)
    for _ in range(MAX_START_ATTEMPTS):
        if proven:
            await _replace(coord, path)
        try:
            return await coord.system.spawn(spec, parent=PROVIDERS_PATH)
        except ChildExists:
            pass
        if not proven:
            await _prove_key(coord, session.public_key, session.provider_id)
            proven = True
        await trio.sleep(0.05)  # the winner's actor may still be stopping
    raise Closed(CloseCode.PROTOCOL_ERROR, "another connection of this provider keeps winning")
