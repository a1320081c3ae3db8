"""The coordinator process: store + actor system + HTTP server, wired together.

    async with open_coordinator(settings) as coord:          # store and actors
        base_url = await nursery.start(serve_http, coord)    # hypercorn on host:port

`running_coordinator(settings)` does both for tests and `switchyard dev`, yielding the
coordinator and its base URL (port 0 picks a free one).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from .actors.attestation import AttestationRegistry
from .actors.billing import BillingActor, BillingConfig, recover_open_holds
from .actors.billing_messages import BillingIdle
from .actors.provider_messages import PROVIDERS_PATH, Disconnect
from .actors.scheduler import SchedulerActor
from .actors.scheduler_messages import ModelsQuery
from .inference.gate import RequestGate
from .inference.keys import ApiKeyCache
from .inference.known_models import REFRESH_TIMEOUT_S, KnownModels
from .inference.ratelimit import RateLimiter
from .metrics import STORE_LATENCY
from .protocol.codes import CloseCode
from .protocol.limits import MAX_REQUEST_HEAD_BYTES, WEBSOCKET_MAX_MESSAGE_SIZE
from .runtime import ActorRef, ActorSystem, ChildSpec, MailboxFull, Strategy, Supervisor
from .settings import Settings
from .storage import open_store
from .storage.protocol import Store
from .storage.timed import TimedStore

log = logging.getLogger(__name__)


@dataclass
class Coordinator:
    """Handles the HTTP layer needs: settings, store, actor system, verifiers."""

    settings: Settings
    store: Store
    system: ActorSystem
    attestation: AttestationRegistry
    keys: ApiKeyCache
    limiter: RateLimiter
    models: KnownModels  # which model names get their own metric label
    gate: RequestGate = field(default_factory=RequestGate)

    @property
    def scheduler(self) -> ActorRef:
        return self.system.lookup("/root/scheduler")

    @property
    def billing(self) -> ActorRef:
        return self.system.lookup("/root/billing")

    async def drain(self, grace_s: float) -> None:
        """Graceful stop: refuse new requests, let running ones finish (up to `grace_s`),
        send providers away (they reconnect to the next coordinator), settle the money."""
        self.gate.accepting = False
        self.system.accepting = False
        with trio.move_on_after(grace_s) as scope:
            await self.gate.wait_idle()
        if scope.cancelled_caught:
            log.warning("grace period over: %d requests still running", self.gate.active)
        for ref in self.system.children_refs(PROVIDERS_PATH):
            with contextlib.suppress(MailboxFull):
                ref.tell(Disconnect(CloseCode.SHUTDOWN, "coordinator shutting down"))


def actor_tree(settings: Settings, store: Store) -> list[ChildSpec]:
    """The root supervisor's children (DESIGN §3)."""
    billing_config = BillingConfig(platform_fee=settings.platform_fee)
    return [
        ChildSpec("scheduler", SchedulerActor, mailbox_size=100_000),
        ChildSpec("billing", lambda: BillingActor(store, billing_config), mailbox_size=100_000),
        ChildSpec(
            "providers",
            lambda: Supervisor(Strategy.ONE_FOR_ONE, max_restarts=1000, window_s=10),
            mailbox_size=100_000,
        ),
    ]


@asynccontextmanager
async def open_coordinator(
    settings: Settings, store: Store | None = None
) -> AsyncIterator[Coordinator]:
    """Open the store (unless given) and the actor system; shut both down on exit."""
    async with _maybe_store(settings, store) as raw_store:
        opened = TimedStore(raw_store, _observe_store)
        await recover_open_holds(opened)
        async with ActorSystem.open(actor_tree(settings, opened), shutdown_timeout=10) as system:
            p = settings.provider
            attestation = AttestationRegistry.default(
                p.enable_test_hardware, p.test_hardware_secret
            )
            keys = ApiKeyCache(opened, settings.key_cache_ttl_s)
            limiter = RateLimiter(settings.default_rpm, settings.default_tpm)
            models = KnownModels(opened, functools.partial(_served_models, system))
            yield Coordinator(settings, opened, system, attestation, keys, limiter, models)


async def _served_models(system: ActorSystem) -> list[str]:
    """The models some online provider serves now (for `KnownModels`)."""
    served = await system.lookup("/root/scheduler").ask(ModelsQuery(), timeout=REFRESH_TIMEOUT_S)
    return list(served)


def _observe_store(method: str, seconds: float) -> None:
    STORE_LATENCY.labels(method).observe(seconds)


@asynccontextmanager
async def _maybe_store(settings: Settings, store: Store | None) -> AsyncIterator[Store]:
    if store is not None:
        yield store
        return
    schema = settings.database_schema if settings.database_url else None
    async with open_store(settings.database_url, schema=schema) as opened:
        yield opened


async def serve_http(
    coord: Coordinator,
    shutdown: trio.Event | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the HTTP API with hypercorn until `shutdown` is set; reports the base URL."""
    from .http.app import create_app
    from .http.send_timeout import ServerConfig, serve

    config = ServerConfig()
    config.send_timeout_s = coord.settings.send_timeout_s  # a client that stops reading
    config.bind = [f"{coord.settings.host}:{coord.settings.port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5.0  # after Coordinator.drain: only stragglers are left
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_SIZE  # see protocol/limits.py
    config.h11_max_incomplete_size = MAX_REQUEST_HEAD_BYTES  # the edge checks complete heads
    # One hypercorn timer: from accepting a connection (or finishing a response on it) to
    # a complete request head. It cuts off slow heads and idle keep-alive connections.
    config.keep_alive_timeout = coord.settings.header_timeout_s
    config.backlog = 4096  # a burst of consumers must not overflow the accept queue (100)
    app = create_app(coord)
    trigger = (shutdown if shutdown is not None else trio.Event()).wait
    await serve(app, config, shutdown_trigger=trigger, task_status=_FirstBind(task_status))


class _FirstBind:
    """Adapts hypercorn's `started(binds)` to report just the first base URL."""

    def __init__(self, task_status: trio.TaskStatus[str]) -> None:
        self._task_status = task_status

    def started(self, binds: list[str] | None = None) -> None:
        self._task_status.started((binds or [""])[0])


@asynccontextmanager
async def running_coordinator(
    settings: Settings, store: Store | None = None
) -> AsyncIterator[tuple[Coordinator, str]]:
    """A coordinator serving HTTP; yields (coordinator, base URL like http://127.0.0.1:PORT).

    Leaving the block drains gracefully (`Coordinator.drain`, up to the configured grace
    period), stops the HTTP server, waits for the billing actor to settle what is pending,
    then stops the actors and the store.
    """
    async with open_coordinator(settings, store) as coord:
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            base_url = await nursery.start(serve_http, coord, shutdown)
            try:
                yield coord, base_url
            finally:
                with trio.CancelScope(shield=True):
                    await coord.drain(settings.shutdown_grace_s)
                    shutdown.set()
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await coord.billing.ask(BillingIdle(), timeout=10)
