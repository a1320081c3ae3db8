"""The coordinator process: store + actor system + HTTP server, wired together.

    async with open_coordinator(settings) as coord:          # store and actors
        base_url = await nursery.start(serve_http, coord)    # hypercorn on host:port

`running_coordinator(settings)` does both for tests and `switchyard dev`, yielding the
coordinator and its base URL (port 0 picks a free one).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from .actors.attestation import AttestationRegistry
from .actors.billing import BillingActor, BillingConfig, recover_open_holds
from .actors.scheduler import SchedulerActor
from .inference.keys import ApiKeyCache
from .runtime import ActorRef, ActorSystem, ChildSpec, Strategy, Supervisor
from .settings import Settings
from .storage import open_store
from .storage.protocol import Store

log = logging.getLogger(__name__)


@dataclass
class Coordinator:
    """Handles the HTTP layer needs: settings, store, actor system, verifiers."""

    settings: Settings
    store: Store
    system: ActorSystem
    attestation: AttestationRegistry
    keys: ApiKeyCache

    @property
    def scheduler(self) -> ActorRef:
        return self.system.lookup("/root/scheduler")

    @property
    def billing(self) -> ActorRef:
        return self.system.lookup("/root/billing")


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
    async with _maybe_store(settings, store) as opened:
        await recover_open_holds(opened)
        async with ActorSystem.open(actor_tree(settings, opened), shutdown_timeout=10) as system:
            p = settings.provider
            attestation = AttestationRegistry.default(
                p.enable_test_hardware, p.test_hardware_secret
            )
            keys = ApiKeyCache(opened, settings.key_cache_ttl_s)
            yield Coordinator(settings, opened, system, attestation, keys)


@asynccontextmanager
async def _maybe_store(settings: Settings, store: Store | None) -> AsyncIterator[Store]:
    if store is not None:
        yield store
        return
    async with open_store(settings.database_url) as opened:
        yield opened


async def serve_http(
    coord: Coordinator,
    shutdown: trio.Event | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the HTTP API with hypercorn until `shutdown` is set; reports the base URL."""
    from .http.app import create_app

    config = Config()
    config.bind = [f"{coord.settings.host}:{coord.settings.port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5.0
    config.keep_alive_timeout = 75.0
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
    """A coordinator serving HTTP; yields (coordinator, base URL like http://127.0.0.1:PORT)."""
    async with open_coordinator(settings, store) as coord:
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            base_url = await nursery.start(serve_http, coord, shutdown)
            try:
                yield coord, base_url
            finally:
                shutdown.set()
