"""One WebSocket connection to the coordinator: register, then serve until the socket closes.

Tasks inside a session: the reader (dispatches coordinator frames), one writer (the
`Outbox`: the only task that sends on the socket, so a cancelled request can never tear a
frame in half, and the one that packs stream deltas of many requests into few frames),
heartbeats, a registration watchdog, a stop watcher, an upstream watcher, and one task per
in-flight request. When the upstream goes down (health.py; a request's transport failure
counts too) the upstream watcher sends a heartbeat saying so at once, then fails every
in-flight request as retryable; while it is down new requests are refused, retryable.
Frames of a request that was cancelled or abandoned are dropped at send time, so after
`cancel` or `resync` nothing more is sent for it.

A session knows its agent only through a `SessionHost` (session_host.py): the identity,
configuration and backend it serves with, the agent's stop signal, and callbacks for what
it reports back (registered, draining). It never reaches into the agent or writes its
state; `run` returns a `SessionOutcome`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from switchyard.protocol.codes import CloseCode, FrameError
from switchyard.protocol.frames import (
    CancelFrame,
    ChallengeFrame,
    ChallengeResponseFrame,
    DrainFrame,
    ErrorFrame,
    Frame,
    HeartbeatFrame,
    InferenceRequestFrame,
    ProtocolErrorFrame,
    ProviderStatus,
    RegisteredFrame,
    RegisterFrame,
    ResyncFrame,
    dump_frame,
    parse_coordinator_frame,
)
from switchyard.protocol.limits import MAX_MESSAGE_CHARS
from switchyard.protocol.provider_frames import UpstreamReport
from switchyard.protocol.signing import sign_challenge
from switchyard.protocol.vocabulary import StreamErrorCode

from .health import UpstreamState
from .outbox import Deltas, Outbox
from .session_host import SessionHost, SessionOutcome
from .streaming import stream_request

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
#: Error codes of a request that could not reach its upstream: it is down, as of now.
UNREACHABLE = frozenset({StreamErrorCode.UPSTREAM_UNREACHABLE, StreamErrorCode.UPSTREAM_TIMEOUT})


def _closed_by(exc: ConnectionClosed) -> tuple[int | None, str]:
    """The close code and reason text of a closed socket (None, "" if it never said)."""
    reason = exc.reason  # trio-websocket leaves it None when closed before any close frame
    if reason is None:
        return None, ""
    return reason.code, reason.reason or reason.name or ""


@dataclass(eq=False)
class InFlight:
    """A request being served; `abandoned` means: send nothing more for it."""

    request_id: str
    model: str
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    abandoned: bool = False


class Session:
    """Serves one connection on behalf of the agent described by `host`."""

    def __init__(self, host: SessionHost, ws: WebSocketConnection, register: RegisterFrame) -> None:
        self.host = host
        self.config = host.config
        self.ws = ws
        self.register = register
        self.slots = {m.id: m.slots for m in register.models}
        self.provider_id = host.provider_id
        self.active: dict[str, InFlight] = {}
        self.in_use: Counter[str] = Counter()
        self.draining = False
        self._registered = trio.Event()
        self._changed = trio.Event()
        self._drained_by_coordinator = False
        self._self_close: tuple[int, str] | None = None
        self._finished = False
        self._nursery: trio.Nursery | None = None
        self.outbox = Outbox(ws.send_message, self.config.chunk_window_s)

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> SessionOutcome:
        try:
            await self.ws.send_message(dump_frame(self.register))
        except ConnectionClosed as exc:
            return SessionOutcome(*_closed_by(exc), registered=False)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._writer)
            nursery.start_soon(self._register_watchdog)
            nursery.start_soon(self._stop_watcher)
            code, reason = await self._reader()
            nursery.cancel_scope.cancel()
        if self._self_close is not None:
            code, reason = self._self_close
        elif self._drained_by_coordinator and code in (CloseCode.NORMAL, CloseCode.DRAINED):
            self._finished = True
        return SessionOutcome(code, reason, self._registered.is_set(), self._finished)

    async def _reader(self) -> tuple[int | None, str]:
        """Dispatch frames until the socket closes; returns the peer's close code and reason."""
        try:
            while True:
                message = await self.ws.get_message()
                try:
                    frame = parse_coordinator_frame(message)
                except FrameError as exc:
                    log.error("bad frame from coordinator: %s", exc)
                    await self._close(exc.code, "bad frame from coordinator")
                    continue
                await self._dispatch(frame)
        except ConnectionClosed as exc:
            return _closed_by(exc)

    async def _close(self, code: int, reason: str, *, finished: bool = False) -> None:
        if self._self_close is None:
            self._self_close = (code, reason)
            self._finished = finished
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            await self.ws.aclose(code, reason)

    async def _writer(self) -> None:
        try:
            await self.outbox.run()
        except ConnectionClosed:
            return

    async def _send(self, request: InFlight | None, frame: Frame) -> None:
        await self.outbox.put(request, dump_frame(frame))

    async def _flush(self) -> None:
        """Wait until everything queued so far has been written."""
        await self.outbox.flush()

    # ------------------------------------------------------------ control

    def status(self) -> ProviderStatus:
        in_use = {m: self.in_use[m] for m in self.slots}
        total = sum(self.slots.values())
        return ProviderStatus(in_use=in_use, load=sum(in_use.values()) / total if total else 0.0)

    async def _dispatch(self, frame: Frame) -> None:
        if isinstance(frame, InferenceRequestFrame):
            await self._admit(frame)
        elif isinstance(frame, ChallengeFrame):
            status = self.status()
            signature = sign_challenge(self.host.key, frame.nonce, self.provider_id, status)
            await self._send(
                None, ChallengeResponseFrame(nonce=frame.nonce, signature=signature, status=status)
            )
        elif isinstance(frame, CancelFrame):
            request = self.active.get(frame.request_id)
            if request is not None:
                self._abandon(request)
        elif isinstance(frame, ResyncFrame):
            log.info("coordinator asked to resync; abandoning %d request(s)", len(self.active))
            for request in list(self.active.values()):
                self._abandon(request)
            await self._heartbeat()
        elif isinstance(frame, DrainFrame):
            if not self._drained_by_coordinator:
                self._drained_by_coordinator = True
                self._spawn(self._drain_then_close)
        elif isinstance(frame, RegisteredFrame):
            self._on_registered(frame)
        elif isinstance(frame, ProtocolErrorFrame):
            log.error("coordinator protocol error %d: %s", frame.code, frame.message)

    def _on_registered(self, frame: RegisteredFrame) -> None:
        if self._registered.is_set():
            log.warning("ignoring a second 'registered' frame")
            return
        if frame.provider_id != self.provider_id:
            log.warning("coordinator calls us %s, expected %s", frame.provider_id, self.provider_id)
            self.provider_id = frame.provider_id
        self._registered.set()
        self.host.on_registered(frame)
        self._spawn(self._heartbeats, frame.heartbeat_interval_s)
        self._spawn(self.host.upstream.watch, self._upstream_changed)

    def _spawn(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        if self._nursery is None:
            raise RuntimeError("session is not running")
        self._nursery.start_soon(fn, *args)

    async def _heartbeat(self) -> None:
        status, upstream = self.status(), self.host.upstream.state
        report = UpstreamReport(healthy=upstream.healthy, reason=upstream.reason)
        frame = HeartbeatFrame(in_use=status.in_use, load=status.load, upstream=report)
        await self._send(None, frame)

    async def _heartbeats(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            await self._heartbeat()

    async def _register_watchdog(self) -> None:
        with trio.move_on_after(self.config.register_timeout_s):
            await self._registered.wait()
            return
        log.warning("no 'registered' within %.1fs; reconnecting", self.config.register_timeout_s)
        await self._close(CloseCode.PROTOCOL_ERROR, "no registered frame")

    async def _stop_watcher(self) -> None:
        await self.host.stopping.wait()
        self._start_draining()
        with trio.move_on_at(self.host.stop_deadline()):
            await self._wait_idle()
        await self._fail_all(
            StreamErrorCode.PROVIDER_SHUTDOWN, "provider shut down before the request finished"
        )
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            await self._flush()
        await self._close(CloseCode.NORMAL, "provider shutting down", finished=True)

    async def _drain_then_close(self) -> None:
        log.info("coordinator asked to drain; finishing %d request(s)", len(self.active))
        self._start_draining()
        await self._wait_idle()
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            await self._flush()
        await self._close(
            CloseCode.NORMAL, "drained", finished=not self.config.reconnect_after_drain
        )

    async def _fail_all(self, code: StreamErrorCode, message: str) -> None:
        """End every in-flight request now with a retryable error."""
        for request in list(self.active.values()):
            self._abandon(request)
            error = ErrorFrame(
                request_id=request.request_id, code=code, message=message, retryable=True
            )
            await self._send(None, error)

    async def _upstream_changed(self, state: UpstreamState) -> None:
        """Heartbeat now (the coordinator stops routing here first); if down, fail work."""
        await self._heartbeat()
        if not state.healthy:
            await self._fail_all(StreamErrorCode.UPSTREAM_DOWN, state.message[:MAX_MESSAGE_CHARS])

    def _start_draining(self) -> None:
        self.draining = True
        self.host.on_draining()

    # ------------------------------------------------------------ requests

    async def _wait_idle(self) -> None:
        while self.active:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _release(self, request: InFlight) -> None:
        if self.active.get(request.request_id) is request:
            del self.active[request.request_id]
            self.in_use[request.model] -= 1
            self._notify()

    def _abandon(self, request: InFlight) -> None:
        request.abandoned = True
        request.scope.cancel()
        self._release(request)

    async def _admit(self, frame: InferenceRequestFrame) -> None:
        rid, model = frame.request_id, frame.model
        if rid in self.active:
            log.warning("ignoring duplicate inference_request %s", rid)
            return
        remaining = frame.deadline - time.time()
        refusal: tuple[str, str, bool] | None = None
        upstream = self.host.upstream.state
        if self.draining:
            refusal = (StreamErrorCode.DRAINING, "provider is draining", True)
        elif not upstream.healthy:
            refusal = (StreamErrorCode.UPSTREAM_DOWN, upstream.message[:MAX_MESSAGE_CHARS], True)
        elif model not in self.slots:
            refusal = (
                StreamErrorCode.UNKNOWN_MODEL,
                f"model {model[:200]!r} is not served here",
                True,
            )
        elif self.in_use[model] >= self.slots[model]:
            refusal = (
                StreamErrorCode.BUSY,
                f"all {self.slots[model]} slots for {model!r} are in use",
                True,
            )
        elif remaining <= 0 or math.isnan(remaining):
            log.warning("request %s arrived %.3fs past its deadline (clock skew?)", rid, -remaining)
            refusal = (
                StreamErrorCode.DEADLINE_EXCEEDED,
                "the request deadline has already passed",
                False,
            )
        if refusal is not None:
            code, message, retryable = refusal
            await self._send(
                None, ErrorFrame(request_id=rid, code=code, message=message, retryable=retryable)
            )
            return
        request = InFlight(rid, model)
        self.active[rid] = request
        self.in_use[model] += 1
        self._spawn(self._serve, request, frame, trio.current_time() + remaining)

    async def _serve(
        self, request: InFlight, frame: InferenceRequestFrame, deadline: float
    ) -> None:
        outbox, request_id = self.outbox, request.request_id

        async def send_deltas(deltas: list[dict[str, str]], first: bool) -> None:
            await outbox.put_deltas(Deltas(request, request_id, deltas, first))

        with request.scope:
            try:
                terminal: Frame
                with trio.move_on_at(deadline) as timer:
                    try:
                        terminal = await stream_request(self.host.backend, frame, send_deltas)
                    except Exception as exc:
                        log.exception("request %s failed inside the agent", request.request_id)
                        terminal = ErrorFrame(
                            request_id=request.request_id,
                            code=StreamErrorCode.INTERNAL_ERROR,
                            message=f"agent error: {exc!r}"[:4096],
                            retryable=True,
                        )
                if timer.cancelled_caught:
                    terminal = ErrorFrame(
                        request_id=request.request_id,
                        code=StreamErrorCode.DEADLINE_EXCEEDED,
                        message="the request deadline passed during generation",
                        retryable=False,
                    )
                # free the slot before the terminal frame can reach the coordinator
                self._release(request)
                if isinstance(terminal, ErrorFrame) and terminal.code in UNREACHABLE:
                    self.host.upstream.report_failure(terminal.message)
                    await self._heartbeat()  # unroutable before the failure is retried
                await self._send(request, terminal)
            finally:
                self._release(request)
