"""`GET /v1/providers/connect`: the provider WebSocket, bridged into a ProviderActor.

The route only bridges. It authenticates the provider token, admits the provider
(`provider_register.py`: the `register` frame, attestation, key proof when the provider
id is already connected, the actor's start under the `providers` supervisor), re-checks
that the token was not revoked meanwhile, then turns inbound frames into messages for
that actor and drains the actor's outbound channel onto the socket. Bad input gets a
`protocol_error` frame and a 4xxx close (`protocol/codes.py`); it never reaches the
actor. Frames are decoded by `protocol/chunk_codec.py`, which checks `chunk` and
`chunk_batch` frames (the per-token path) by hand when they have the common shape.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio
from quart import Blueprint, websocket

from ..actors.provider_messages import PROVIDERS_PATH, CloseSocket, Disconnect
from ..actors.provider_session import ProviderSession
from ..coordinator import Coordinator
from ..protocol.chunk_codec import decode_provider_frame
from ..protocol.codes import CloseCode, FrameError
from ..protocol.frames import ProtocolErrorFrame, RegisterFrame, dump_frame
from ..runtime import ActorRef, ActorStopped
from ..storage.errors import StoreError
from .context import bearer_token, coordinator
from .provider_register import Closed, Outbound, admit

log = logging.getLogger(__name__)

provider_ws = Blueprint("provider_ws", __name__)

CLOSE_TIMEOUT_S = 5.0


@provider_ws.websocket("/v1/providers/connect")
async def connect() -> Any:
    coord = coordinator()
    token = bearer_token(websocket.headers)
    record = await coord.store.lookup_provider_token(token) if token else None
    if not token or record is None:
        return {"error": {"message": "invalid provider token", "type": "unauthorized"}}, 401
    await websocket.accept()
    close = _Closer()
    try:
        session, outbound, ref = await admit(coord, record)
    except Closed as closed:
        await close(closed.code, closed.reason)
        return None
    await _serve(coord, session, outbound, ref, close, token)
    return None


async def _revoked_meanwhile(coord: Coordinator, token: str) -> bool:
    """Whether the token was revoked after the handshake (its revocation missed this actor)."""
    try:
        return await coord.store.lookup_provider_token(token) is None
    except StoreError as exc:
        log.warning("provider token not re-checked: %s", exc)
        return False


async def _serve(
    coord: Coordinator,
    session: ProviderSession,
    outbound: Outbound,
    ref: ActorRef,
    close: _Closer,
    token: str,
) -> None:
    path = f"{PROVIDERS_PATH}/{session.provider_id}"
    log.info("provider %s connected (trust %s)", session.provider_id, session.attested_trust)
    try:
        # Revocation closes the actors it finds; this one may have started just after.
        if await _revoked_meanwhile(coord, token):
            with contextlib.suppress(ActorStopped):
                await ref.send(Disconnect(CloseCode.TOKEN_REVOKED, "provider token revoked"))
        closed: Closed | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_write, outbound, nursery.cancel_scope, close)
            closed = await _read(ref)
            nursery.cancel_scope.cancel()
        if closed is not None:
            await close(closed.code, closed.reason)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            session.outbound.close()
            if ref.alive:
                await coord.system.stop(path)
            try:
                await coord.store.touch_provider(session.provider_id)
            except StoreError as exc:
                log.warning("provider %s: last-seen not recorded: %s", session.provider_id, exc)
        log.info("provider %s disconnected", session.provider_id)


async def _read(ref: ActorRef) -> Closed:
    """Pump inbound frames into the actor until the socket or the actor goes away."""
    receive = websocket._get_current_object().receive  # resolved once, not once a frame
    while True:
        text = await receive()
        try:
            message = decode_provider_frame(text)
        except FrameError as exc:
            return Closed(exc.code, exc.message)
        if isinstance(message, RegisterFrame):
            return Closed(CloseCode.DUPLICATE_REGISTER, "already registered")
        # No scheduling point per frame while the mailbox has room; else waits for room.
        if not await ref.tell_or_send(message):
            return Closed(CloseCode.SHUTDOWN, "provider session ended")


async def _write(outbound: Outbound, scope: trio.CancelScope, close: _Closer) -> None:
    """Drain the actor's outbound frames onto the socket; a CloseSocket ends the session."""
    async for item in outbound:
        if isinstance(item, CloseSocket):
            await close(item.code, item.reason)
            scope.cancel()
            return
        await websocket.send(item)
    await close(CloseCode.SHUTDOWN, "provider session ended")
    scope.cancel()


class _Closer:
    """Closes the provider socket once, whichever side (reader, writer, route) is first."""

    def __init__(self) -> None:
        self.closed = False

    async def __call__(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        # Shielded: the other side may cancel this task meanwhile; a close once begun ends.
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
            if code >= 4000:
                frame = ProtocolErrorFrame(code=code, message=reason[:4096])
                try:
                    await websocket.send(dump_frame(frame))
                except Exception as exc:  # the peer may be gone already
                    log.debug("protocol_error not delivered: %s", exc)
            await websocket.close(code, reason[:120])
