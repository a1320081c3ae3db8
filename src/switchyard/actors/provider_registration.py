"""Provider registration: the `register` frame, key proof, the actor's start and its end.

The provider socket's route authenticates the token, then hands the socket over, as a
`FrameSocket` (text frames in and out), to `ProviderRegistrar.connect`. It reads the
`register` frame, checks the protocol version and the attestation (→ trust), records the
provider, starts its `ProviderActor` under the `providers` supervisor, and re-checks that
the token was not revoked meanwhile; the route then only pumps frames between the socket
and the actor. Leaving `connect` stops the actor and records when the provider was last
seen. A refusal raises `Closed` with the close code the route must close the socket with.

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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import trio

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
from ..runtime import (
    ActorRef,
    ActorStopped,
    ActorSystem,
    AskTimeout,
    ChildExists,
    ChildSpec,
    Restart,
)
from ..settings import ProviderSettings
from ..storage.errors import StoreError
from ..storage.models import ProviderTokenRecord
from ..storage.protocol import Store
from .attestation import AttestationRefused, AttestationRegistry
from .provider import ProviderActor
from .provider_messages import PROVIDERS_PATH, CloseSocket, Disconnect
from .provider_session import ProviderSession

log = logging.getLogger(__name__)

REGISTER_TIMEOUT_S = 10.0
#: How often a proven newcomer retries when another connection of its id keeps winning.
MAX_START_ATTEMPTS = 5

Outbound = trio.MemoryReceiveChannel[str | CloseSocket]


class FrameSocket(Protocol):
    """The provider socket as registration sees it: text frames in and out."""

    async def receive(self) -> str | bytes: ...

    async def send(self, data: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ProviderConnection:
    """An admitted provider: its session, the actor serving it, the frames for its socket."""

    session: ProviderSession
    ref: ActorRef
    outbound: Outbound


class Closed(Exception):
    """The socket must close with `code` (after a protocol_error frame for 4xxx)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ProviderRegistrar:
    """Admits provider sockets as actors under `PROVIDERS_PATH`, one per provider id."""

    def __init__(
        self,
        store: Store,
        system: ActorSystem,
        attestation: AttestationRegistry,
        settings: ProviderSettings,
    ) -> None:
        self._store = store
        self._system = system
        self._attestation = attestation
        self._settings = settings

    @asynccontextmanager
    async def connect(
        self, token: str, record: ProviderTokenRecord, socket: FrameSocket
    ) -> AsyncIterator[ProviderConnection]:
        """Register the provider on `socket` (authenticated by `token`, stored as `record`)
        and start its actor; raises Closed if refused. On exit the actor is stopped."""
        conn = await self._admit(record, socket)
        session, ref = conn.session, conn.ref
        try:
            # Revocation closes the actors it finds; this one may have started just after.
            if await self._revoked_meanwhile(token):
                with contextlib.suppress(ActorStopped):
                    await ref.send(Disconnect(CloseCode.TOKEN_REVOKED, "provider token revoked"))
            yield conn
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                session.outbound.close()
                if ref.alive:
                    await self._system.stop(_path(session.provider_id))
                try:
                    await self._store.touch_provider(session.provider_id)
                except StoreError as exc:
                    log.warning("provider %s: last-seen not recorded: %s", session.provider_id, exc)

    async def _admit(self, record: ProviderTokenRecord, socket: FrameSocket) -> ProviderConnection:
        frame, trust = await self._read_register(socket)
        provider_id = provider_id_for(frame.public_key)
        replacing = self._connected(provider_id)
        if replacing:  # proven before anything is stored or replaced
            await self._prove_key(socket, frame.public_key, provider_id)
        try:
            await self._store.upsert_provider(
                provider_id, record.account_id, frame.public_key, trust
            )
        except StoreError as exc:
            raise Closed(CloseCode.UNAUTHORIZED, f"provider refused: {exc}") from None
        outbound_send, outbound_receive = trio.open_memory_channel[str | CloseSocket](
            self._settings.outbound_buffer
        )
        session = ProviderSession(
            provider_id=provider_id,
            owner_account_id=record.account_id,
            token_id=record.id,
            public_key=frame.public_key,
            attested_trust=trust,
            register=frame,
            outbound=outbound_send,
            settings=self._settings,
        )
        try:
            ref = await self._start_actor(socket, session, proven=replacing)
        except BaseException:
            # An actor whose start was only late (its StartChild still queued) finds its
            # socket gone at its first frame and stops itself: nothing is left behind.
            outbound_receive.close()
            raise
        return ProviderConnection(session, ref, outbound_receive)

    async def _read_register(self, socket: FrameSocket) -> tuple[RegisterFrame, Trust]:
        with trio.move_on_after(REGISTER_TIMEOUT_S) as scope:
            text = await socket.receive()
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
                unsupported_version(frame.protocol_version),
            )
        try:
            trust = self._attestation.trust_for(frame.public_key, frame.attestation)
        except AttestationRefused as exc:
            raise Closed(CloseCode.ATTESTATION_REFUSED, str(exc)) from None
        return frame, trust

    def _connected(self, provider_id: str) -> bool:
        try:
            self._system.lookup(_path(provider_id))
        except LookupError:
            return False
        return True

    async def _prove_key(self, socket: FrameSocket, public_key: str, provider_id: str) -> None:
        """Challenge the newcomer once; returns only if it signed with the provider's key."""
        deadline_s = self._settings.challenge_deadline_s
        nonce = new_nonce()
        challenge = ChallengeFrame(nonce=nonce, deadline=time.time() + deadline_s)
        await socket.send(dump_frame(challenge))
        with trio.move_on_after(deadline_s) as scope:
            text = await socket.receive()
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

    async def _replace(self, path: str) -> None:
        """Close the older connection of this provider and wait until its actor is gone."""
        try:
            old = self._system.lookup(path)
        except LookupError:
            return
        with contextlib.suppress(ActorStopped, AskTimeout):
            await old.ask(Disconnect(CloseCode.PROTOCOL_ERROR, "replaced by a newer connection"))
        await self._system.stop(path)  # returns once the old actor is gone and its name free

    async def _start_actor(
        self, socket: FrameSocket, session: ProviderSession, proven: bool
    ) -> ActorRef:
        """Spawn the provider's actor, replacing an older connection only once the key is
        proven.

        Another connection of the same id may win the name between our look and our spawn
        (the supervisor refuses the second start): then this one must prove the key too.
        """
        path = _path(session.provider_id)

        def factory() -> ProviderActor:
            return ProviderActor(session)

        spec = ChildSpec(session.provider_id, factory, restart=Restart.TRANSIENT, mailbox_size=4096)
        for _ in range(MAX_START_ATTEMPTS):
            if proven:
                await self._replace(path)
            try:
                return await self._system.spawn(spec, parent=PROVIDERS_PATH)
            except ChildExists:
                pass
            except AskTimeout:
                # The supervisor is too far behind (many registrations at once on a loaded
                # machine): refuse with a typed close the agent answers by reconnecting.
                log.warning("provider %s: actor did not start in time", session.provider_id)
                raise Closed(
                    CloseCode.TRY_AGAIN_LATER, "coordinator busy starting providers; reconnect"
                ) from None
            if not proven:
                await self._prove_key(socket, session.public_key, session.provider_id)
                proven = True
            await trio.sleep(0.05)  # the winner's actor may still be stopping
        raise Closed(CloseCode.PROTOCOL_ERROR, "another connection of this provider keeps winning")

    async def _revoked_meanwhile(self, token: str) -> bool:
        """Whether the token was revoked after the handshake (its revocation missed this actor)."""
        try:
            return await self._store.lookup_provider_token(token) is None
        except StoreError as exc:
            log.warning("provider token not re-checked: %s", exc)
            return False


def _path(provider_id: str) -> str:
    return f"{PROVIDERS_PATH}/{provider_id}"


def _not_proven(provider_id: str, why: str) -> Closed:
    log.warning("provider %s: a new connection did not prove the key (%s)", provider_id, why)
    return Closed(CloseCode.KEY_NOT_PROVEN, f"{provider_id} is connected; key not proven: {why}")


def unsupported_version(version: int) -> str:
    """The close reason for an agent speaking another protocol version."""
    fix = "upgrade the agent" if version < PROTOCOL_VERSION else "use an agent of this release"
    return (
        f"protocol version {version} is not supported: {fix} "
        f"(this coordinator speaks {PROTOCOL_VERSION})"
    )
