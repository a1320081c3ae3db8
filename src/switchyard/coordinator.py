"""The coordinator: store + actor system + what the HTTP layer needs, opened together.

    async with open_coordinator(settings) as coord:          # store, actors, Stripe

The HTTP layer depends on this module, never the reverse: `launch.py` serves a
`Coordinator` over HTTP (`serve_http`, `running_coordinator`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from .actors.attestation import AttestationRegistry
from .actors.billing import BillingActor, BillingConfig, recover_open_holds
from .actors.provider_messages import PROVIDERS_PATH, Disconnect
from .actors.provider_registration import ProviderRegistrar
from .actors.scheduler import SchedulerActor
from .actors.scheduler_messages import ModelsQuery
from .billing.stripe_gateway import StripeGateway
from .cluster.ids import new_replica_id
from .inference.gate import RequestGate
from .inference.keys import ApiKeyCache
from .inference.known_models import REFRESH_TIMEOUT_S, KnownModels
from .inference.ratelimit import KeyLimiter, RateLimiter
from .metrics import STORE_LATENCY
from .protocol.codes import CloseCode
from .runtime import ActorRef, ActorSystem, ChildSpec, MailboxFull, Strategy, Supervisor
from .selfservice.state import SelfServiceState
from .settings import Settings
from .storage import open_store
from .storage.protocol import Store
from .storage.timed import TimedStore

if TYPE_CHECKING:
    from .cluster.node import Cluster
    from .cluster.state import ClusterState

log = logging.getLogger(__name__)


@dataclass
class Coordinator:
    """What the HTTP layer needs: settings, store, actor system, provider registrar,
    key cache, rate limiter, known models, Stripe gateway, self-service state, and in
    cluster mode the cluster (NATS transport and membership)."""

    settings: Settings
    store: Store
    system: ActorSystem
    registrar: ProviderRegistrar  # admits provider sockets as actors
    keys: ApiKeyCache
    limiter: KeyLimiter  # RateLimiter, or the cluster's shared one
    models: KnownModels  # which model names get their own metric label
    stripe: StripeGateway | None = None  # None when Stripe is not configured
    gate: RequestGate = field(default_factory=RequestGate)
    selfservice: SelfServiceState = field(default_factory=SelfServiceState)
    replica_id: str = ""  # this process's name (--replica-id, else generated)
    cluster: Cluster | None = None  # None without --nats-url: one process, no NATS hop
    state: ClusterState | None = None  # cluster-wide limits, hold recovery, replica calls

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


def actor_tree(settings: Settings, store: Store, replica_id: str | None = None) -> list[ChildSpec]:
    """The root supervisor's children (docs/ARCHITECTURE.md, "Supervision"); in a cluster
    the billing actor stamps `replica_id` on its holds."""
    billing_config = BillingConfig(platform_fee=settings.platform_fee, replica_id=replica_id)
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
    """Open the store (unless given), the actor system and the Stripe gateway (when
    configured) and, with `settings.nats_url`, the cluster; close them all on exit."""
    problem = settings.cluster_problem()
    if problem is not None:
        raise ValueError(problem)
    replica_id = settings.replica_id or new_replica_id()
    log.info("replica id %s", replica_id)
    async with _maybe_store(settings, store) as raw_store:
        opened = TimedStore(raw_store, _observe_store)
        holds_of = replica_id if settings.nats_url else None  # in a cluster: only its own
        await recover_open_holds(opened, holds_of)
        purged = await opened.purge_expired_responses()
        if purged:
            log.info("deleted %d expired stored responses", purged)
        tree = actor_tree(settings, opened, holds_of)
        async with ActorSystem.open(tree, shutdown_timeout=10) as system:
            p = settings.provider
            attestation = AttestationRegistry.default(
                p.enable_test_hardware, p.test_hardware_secret
            )
            registrar = ProviderRegistrar(opened, system, attestation, p)
            keys = ApiKeyCache(opened, settings.key_cache_ttl_s)
            local_limiter = RateLimiter(settings.default_rpm, settings.default_tpm)
            models = KnownModels(opened, functools.partial(_served_models, system))
            async with (
                _maybe_stripe(settings) as stripe,
                _maybe_cluster(settings, replica_id, system) as cluster,
                _maybe_state(cluster, opened, system, keys, local_limiter, models) as state,
            ):
                limiter = local_limiter if state is None else state.limiter
                selfservice = (
                    SelfServiceState()
                    if state is None
                    else SelfServiceState.with_throttles(state.throttles.throttle)
                )
                yield Coordinator(
                    settings,
                    opened,
                    system,
                    registrar,
                    keys,
                    limiter,
                    models,
                    stripe,
                    selfservice=selfservice,
                    replica_id=replica_id,
                    cluster=cluster,
                    state=state,
                )


async def _served_models(system: ActorSystem) -> list[str]:
    """The models some online provider serves now (for `KnownModels`)."""
    served = await system.lookup("/root/scheduler").ask(ModelsQuery(), timeout=REFRESH_TIMEOUT_S)
    return list(served)


def _observe_store(method: str, seconds: float) -> None:
    STORE_LATENCY.labels(method).observe(seconds)


@asynccontextmanager
async def _maybe_stripe(settings: Settings) -> AsyncIterator[StripeGateway | None]:
    gateway = StripeGateway.from_settings(settings)
    try:
        yield gateway
    finally:
        if gateway is not None:
            with trio.CancelScope(shield=True):
                await gateway.aclose()


@asynccontextmanager
async def _maybe_cluster(
    settings: Settings, replica_id: str, system: ActorSystem
) -> AsyncIterator[Cluster | None]:
    if settings.nats_url is None:
        yield None
        return
    from .cluster.node import open_cluster  # nats is imported only in cluster mode

    def info() -> dict[str, Any]:
        return {"providers": len(system.children_refs(PROVIDERS_PATH))}

    from .cluster.routing import open_routing

    async with (
        open_cluster(settings, replica_id, system, info) as cluster,
        open_routing(
            system, cluster.transport, replica_id, membership=cluster.membership
        ) as routing,
    ):
        cluster.routing = routing
        yield cluster


@asynccontextmanager
async def _maybe_state(
    cluster: Cluster | None,
    store: Store,
    system: ActorSystem,
    keys: ApiKeyCache,
    limiter: RateLimiter,
    models: KnownModels,
) -> AsyncIterator[ClusterState | None]:
    if cluster is None:
        yield None
        return
    from .cluster.state import open_cluster_state

    async with open_cluster_state(cluster, store, system, keys, limiter, models) as state:
        yield state


@asynccontextmanager
async def _maybe_store(settings: Settings, store: Store | None) -> AsyncIterator[Store]:
    if store is not None:
        yield store
        return
    schema = settings.database_schema if settings.database_url else None
    async with open_store(settings.database_url, schema=schema) as opened:
        yield opened
