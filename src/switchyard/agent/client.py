"""`ProviderAgent`: the reconnect loop around sessions, graceful stop, and signal handling.

Run it in-process with ``await ProviderAgent(config).run()`` inside any trio nursery.
`run()` returns when the agent stops cleanly (after `stop()`, or after the coordinator
drained it) and raises `AgentFatalError` on a close code that retrying cannot fix
(4001 unauthorized, 4011 attestation refused, 4012 unsupported version, 4015 token
revoked, or an HTTP 401/403 at the handshake). Every other disconnect is retried with
capped exponential back-off and jitter, on the next of `config.coordinators` (failover
between the replicas of a cluster). Cancelling the surrounding scope is the hard stop.
"""

from __future__ import annotations

import logging
import math
import random
import signal
from dataclasses import replace

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from trio_websocket import ConnectionRejected, HandshakeError, open_websocket_url

from switchyard.protocol.codes import CloseCode
from switchyard.protocol.frames import (
    MAX_MODELS,
    PROTOCOL_VERSION,
    Attestation,
    ModelCapabilities,
    ModelSpec,
    RegisteredFrame,
    RegisterFrame,
)
from switchyard.protocol.limits import MAX_COORDINATOR_FRAME_BYTES
from switchyard.protocol.signing import provider_id_for, public_key_b64

from .backend import Backend, BackendError, ModelInfo
from .config import (
    AgentConfig,
    backoff_delay,
    build_backend,
    build_upstream_health,
    declare,
    websocket_url,
)
from .identity import load_or_create_key
from .session import Session
from .session_host import SessionHost, SessionOutcome

log = logging.getLogger(__name__)

MAX_MODEL_ID = 200


class AgentFatalError(Exception):
    """The agent cannot go on (bad token, refused attestation, ...); `code` is the close code."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"provider agent stopped: {reason} (code {code})")
        self.code = code
        self.reason = reason


class ProviderAgent:
    """The provider agent: connects, registers, serves requests, reconnects, stops cleanly.

    `backend` and `key` override what the config would build or load (handy in tests and
    in `switchyard dev`); a backend passed in is not closed by the agent.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        backend: Backend | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.config = config
        self.key = key if key is not None else load_or_create_key(config.key_file)
        self.public_key = public_key_b64(self.key)
        self.provider_id = provider_id_for(self.public_key)
        self._owns_backend = backend is None
        self.backend: Backend = backend if backend is not None else build_backend(config)
        self.upstream = build_upstream_health(config)
        self.stopping = trio.Event()
        self.stop_deadline = math.inf
        self.state = "idle"
        self.trust: str | None = None
        self.registrations = 0
        self.models: list[ModelSpec] = []
        self._rng = random.Random()
        self._next_coordinator = 0  # index into config.coordinators of the next dial
        self._connect_scope: trio.CancelScope | None = None
        self._online = trio.Event()

    # ------------------------------------------------------------ public API

    def stop(self, grace_s: float | None = None) -> None:
        """Stop taking work, finish in-flight requests for up to `grace_s`, close with 1000.

        Call from the trio thread (or via `trio.from_thread.run_sync`). Idempotent; a
        second call can only shorten the grace period.
        """
        grace = self.config.shutdown_grace_s if grace_s is None else max(0.0, grace_s)
        self.stop_deadline = min(self.stop_deadline, trio.current_time() + grace)
        self.stopping.set()
        if self._connect_scope is not None:
            self._connect_scope.cancel()

    async def wait_online(self) -> None:
        """Wait until the agent is registered on its current connection."""
        await self._online.wait()

    async def run(self) -> None:
        """Serve until stopped or drained; raises AgentFatalError on unrecoverable errors.

        The upstream's health checker runs alongside, across reconnects.
        """
        fatal: AgentFatalError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.upstream.run)
            try:
                await self._serve()
            except AgentFatalError as exc:
                fatal = exc  # raised as itself, not inside an exception group
            finally:
                nursery.cancel_scope.cancel()
        if fatal is not None:
            raise fatal

    async def _serve(self) -> None:
        failures = 0
        try:
            self.models = await self._resolve_models()
            register = self._register_frame()
            while not self.stopping.is_set():
                outcome = await self._connect_once(register)
                self._online = trio.Event()
                if outcome.fatal:
                    log.error("coordinator refused us: %s (%s)", outcome.reason, outcome.close_code)
                    raise AgentFatalError(outcome.close_code, outcome.reason)
                if outcome.finished or self.stopping.is_set():
                    log.info("provider agent stopped (%s)", outcome.reason or "stop requested")
                    return
                failures = 0 if outcome.registered else failures
                failures += 1
                limit = self.config.max_reconnects
                if limit is not None and failures > limit:
                    raise AgentFatalError(outcome.close_code, f"gave up: {outcome.reason}")
                delay = backoff_delay(
                    failures - 1,
                    self.config.reconnect_base_s,
                    self.config.reconnect_cap_s,
                    self._rng,
                )
                log.warning(
                    "disconnected (%s, code %s); reconnecting in %.2fs",
                    outcome.reason, outcome.close_code, delay,
                )  # fmt: skip
                self.state = "backoff"
                with trio.move_on_after(delay):
                    await self.stopping.wait()
        finally:
            self.state = "stopped"
            if self._owns_backend:
                with trio.CancelScope(shield=True):
                    await self.backend.aclose()

    # ------------------------------------------------------------ internals

    def _session_host(self) -> SessionHost:
        """What a session may see of this agent, and how it reports back."""
        return SessionHost(
            config=self.config,
            key=self.key,
            provider_id=self.provider_id,
            backend=self.backend,
            upstream=self.upstream,
            stopping=self.stopping,
            stop_deadline=lambda: self.stop_deadline,
            on_registered=self._on_registered,
            on_draining=self._on_draining,
        )

    def _on_registered(self, frame: RegisteredFrame) -> None:
        """The session's coordinator accepted the registration."""
        self.state = "online"
        self.trust = frame.trust
        self.registrations += 1
        self._online.set()
        log.info("registered as %s (trust %s)", frame.provider_id, frame.trust)

    def _on_draining(self) -> None:
        """The session takes no new work (the agent stops, or the coordinator drains it)."""
        self.state = "draining"

    async def _connect_once(self, register: RegisterFrame) -> SessionOutcome:
        urls = self.config.coordinators
        url = websocket_url(urls[self._next_coordinator % len(urls)])
        self._next_coordinator += 1  # the next attempt (a reconnect) fails over to the next
        headers = [(b"authorization", f"Bearer {self.config.token}".encode())]
        self.state = "connecting"
        outcome = SessionOutcome(None, "stop requested before connecting", registered=False)
        served: SessionOutcome | None = None
        with trio.CancelScope() as scope:
            self._connect_scope = scope
            if self.stopping.is_set():
                scope.cancel()
            try:
                async with open_websocket_url(
                    url,
                    extra_headers=headers,
                    connect_timeout=self.config.connect_timeout_s,
                    disconnect_timeout=5.0,
                    max_message_size=MAX_COORDINATOR_FRAME_BYTES,  # what it may send us
                ) as ws:
                    self._connect_scope = None
                    served = await Session(self._session_host(), ws, register).run()
                outcome = served
            except ConnectionRejected as exc:
                fatal = exc.status_code in (401, 403)
                code = CloseCode.UNAUTHORIZED if fatal else None
                outcome = SessionOutcome(code, f"HTTP {exc.status_code} at handshake", False)
            except (HandshakeError, OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
                outcome = served or SessionOutcome(None, f"connection failed: {exc!r}", False)
            finally:
                self._connect_scope = None
        return outcome

    def _register_frame(self) -> RegisterFrame:
        cfg = self.config
        try:
            return RegisterFrame(
                protocol_version=PROTOCOL_VERSION,
                agent_version=cfg.agent_version,
                public_key=self.public_key,
                attestation=Attestation(
                    kind=cfg.attestation_kind, evidence=cfg.attestation_evidence
                ),
                models=self.models,
                hardware=cfg.hardware,
            )
        except ValidationError as exc:
            raise AgentFatalError(None, f"invalid provider configuration: {exc}") from exc

    async def _resolve_models(self) -> list[ModelSpec]:
        cfg = self.config
        if cfg.models:
            try:
                known = {m.id: m for m in await self.backend.list_models()}
            except BackendError:
                known = {}
            infos = [
                replace(known.get(cfg.model_map.get(m, m)) or ModelInfo(m), id=m)
                for m in cfg.models
            ]
        else:
            infos = await self._discover_models()
        usable: dict[str, ModelInfo] = {}
        for info in infos:
            if len(info.id) > MAX_MODEL_ID:
                log.warning("skipping model %r: ids are limited to %d chars", info.id, MAX_MODEL_ID)
            else:
                usable.setdefault(info.id, info)
        infos = [declare(info, cfg) for info in usable.values()]
        if not infos:
            raise AgentFatalError(None, "the backend serves no models; pass --models")
        if len(infos) > MAX_MODELS:
            log.warning("advertising the first %d of %d models", MAX_MODELS, len(infos))
        return [
            ModelSpec(
                id=i.id,
                slots=cfg.slots,
                context_length=i.context_length,
                capabilities=_capabilities(i),
                prefill_tps=i.prefill_tps,
                decode_tps=i.decode_tps,
            )
            for i in infos[:MAX_MODELS]
        ]

    async def _discover_models(self) -> list[ModelInfo]:
        attempt = 0
        while True:
            try:
                return await self.backend.list_models()
            except BackendError as exc:
                delay = backoff_delay(
                    attempt, self.config.reconnect_base_s, self.config.reconnect_cap_s, self._rng
                )
                log.warning("cannot list backend models (%s); retrying in %.2fs", exc, delay)
                attempt += 1
                with trio.move_on_after(delay):
                    await self.stopping.wait()
                if self.stopping.is_set():
                    return []


def _capabilities(info: ModelInfo) -> ModelCapabilities | None:
    """What `register` says of a model's capabilities (None: nothing known)."""
    if not info.capabilities:
        return None
    return ModelCapabilities(**{c.value: s for c, s in info.capabilities.items()})


async def run_until_signalled(agent: ProviderAgent) -> int:
    """Run `agent`; SIGINT/SIGTERM stop it gracefully (a second signal stops it at once).

    Returns a process exit code: 0 after a clean stop, 1 on a fatal error.
    """
    exit_code = 0
    async with trio.open_nursery() as nursery:

        async def watch_signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if agent.stopping.is_set():
                        log.warning("second signal; stopping now")
                        nursery.cancel_scope.cancel()
                        return
                    log.info("got %s; finishing in-flight work", signal.Signals(signum).name)
                    agent.stop()

        nursery.start_soon(watch_signals)
        try:
            await agent.run()
        except AgentFatalError as exc:
            log.error("%s", exc)
            exit_code = 1
        nursery.cancel_scope.cancel()
    return exit_code
