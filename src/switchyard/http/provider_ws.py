"""`GET /v1/providers/connect`: the provider WebSocket, bridged into a ProviderActor.

The route only pumps frames. It authenticates the provider token and hands the socket to
the coordinator's `ProviderRegistrar` (`actors/provider_registration.py`: the `register`
frame, attestation, key proof, the actor's start, the revocation re-check, and the
actor's stop at the end), then turns inbound frames into messages for that actor, drains
the actor's outbound channel onto the socket, and closes with the code it is told
(a refusal's, a bad frame's, or the actor's `CloseSocket`). Bad input gets a
`protocol_error` frame and a 4xxx close (`protocol/codes.py`); it never reaches the
actor. Frames are decoded by `protocol/chunk_codec.py`, which checks `chunk` and
`chunk_batch` frames (the per-token path) by hand when they have the common shape.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import Blueprint, websocket
from quart.globals import websocket_ctx

from ..actors.provider_messages import CloseSocket
from ..actors.provider_registration import Closed, Outbound, ProviderConnection
from ..protocol.chunk_codec import decode_provider_frame
from ..protocol.codes import CloseCode, FrameError
from ..protocol.frames import ProtocolErrorFrame, RegisterFrame, dump_frame
from ..runtime import ActorRef
from .context import bearer_token, coordinator

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
    provider_id: str | None = None
    try:
        async with coord.registrar.connect(token, record, websocket) as conn:
            provider_id, trust = conn.session.provider_id, conn.session.attested_trust
            log.info("provider %s connected (trust %s)", provider_id, trust)
            await _pump(conn, close)
    except Closed as refused:
        await close(refused.code, refused.reason)
    finally:
        if provider_id is not None:  # logged once the registrar has stopped its actor
            log.info("provider %s disconnected", provider_id)
    return None


async def _pump(conn: ProviderConnection, close: _Closer) -> None:
    """Frames both ways until the socket or the actor ends; then close as told."""
    closed: Closed | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_write, conn.outbound, nursery.cancel_scope, close)
        closed = await _read(conn.ref)
        nursery.cancel_scope.cancel()
    if closed is not None:
        await close(closed.code, closed.reason)


async def _read(ref: ActorRef) -> Closed:
    """Pump inbound frames into the actor until the socket or the actor goes away."""
    receive = websocket_ctx.websocket.receive  # resolved once, not once a frame
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
