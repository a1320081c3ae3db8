"""One replica's presence in the cluster: its transport and membership, opened together.

    async with open_cluster(settings, replica_id, info=...) as cluster:
        cluster.transport      # NATS, namespaced by settings.cluster_name
        cluster.membership     # heartbeating; live_replicas(), listen(), events()
        cluster.endpoint       # remote actor refs: endpoint.ref(replica_id, "/root/...")
        cluster.registry       # register the message dataclasses that may cross

The coordinator opens this only when `settings.nats_url` is set (cluster mode).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from ..runtime import ActorSystem, MessageRegistry, RemoteEndpoint
from ..settings import Settings
from .membership import Membership
from .routing import Routing
from .transport import Transport
from .transport_open import open_transport

log = logging.getLogger(__name__)


@dataclass
class Cluster:
    """What the rest of a replica uses of the cluster."""

    name: str
    replica_id: str
    transport: Transport
    membership: Membership
    endpoint: RemoteEndpoint  # serves this replica's actors; refs to other replicas' actors
    registry: MessageRegistry  # what may cross: register messages before sending them
    routing: Routing | None = None  # cross-replica routing (set by the coordinator)


@asynccontextmanager
async def open_cluster(
    settings: Settings,
    replica_id: str,
    system: ActorSystem,
    info: Callable[[], dict[str, Any]] | None = None,
) -> AsyncIterator[Cluster]:
    """Connect to `settings.nats_url`, start heartbeating as `replica_id` and serve
    `system`'s actors to the other replicas; `info` adds fields to every heartbeat.
    NATS unreachable at start: with `settings.require_nats` TransportUnavailable, else
    the replica starts alone (`transport.connected` false, as in a later outage) and
    joins once NATS answers (its subscriptions are made then: `transport_subs.py`)."""
    if settings.nats_url is None:
        raise ValueError("open_cluster needs settings.nats_url")
    async with open_transport(
        settings.nats_url,
        cluster=settings.cluster_name,
        name=f"switchyard-{replica_id}",
        require=settings.require_nats,
    ) as transport:
        membership = Membership(
            transport,
            replica_id,
            info=info,
            interval_s=settings.cluster_heartbeat_s,
            lapse_s=settings.cluster_lapse_s,
        )
        registry = MessageRegistry()
        endpoint = RemoteEndpoint(system, transport, replica_id, registry, membership)
        async with trio.open_nursery() as nursery:
            await nursery.start(membership.run)
            await nursery.start(endpoint.run)
            if transport.connected:
                log.info("replica %s joined cluster %s", replica_id, settings.cluster_name)
            try:
                yield Cluster(
                    settings.cluster_name, replica_id, transport, membership, endpoint, registry
                )
            finally:
                nursery.cancel_scope.cancel()
