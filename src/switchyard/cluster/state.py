"""ClusterState: what every replica must agree on, opened with the replica's cluster.

    async with open_cluster_state(cluster, store, system, keys, local_limiter, models) as st:
        st.limiter     # SharedRateLimiter (exact per-key limits across replicas)
        st.recovery    # HoldRecovery (a gone replica's holds released once)
        st.calls       # ReplicaCalls (admin calls to every replica, change broadcasts)
        st.throttles   # SharedThrottles (self-service login/address/device throttles)

This module wires them to the coordinator's pieces: the calls a replica answers
(`providers`, `provider_states`, `totals`, `drain`, `disconnect`, `revoke_token`:
`actors/local_admin.py` and `actors/provider_control.py`; asked through
`provider_reach.py`)
and what a change broadcast drops (`api_key` -> the key cache entry, `pricing` -> the
billing actor's price and the known-model names).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from ..actors.billing_messages import PriceChanged
from ..actors.local_admin import ADMIN_DISCONNECT, local_providers, local_totals
from ..actors.provider_control import (
    disconnect_provider,
    disconnect_token_holders,
    drain_provider,
    provider_states,
)
from ..inference.keys import ApiKeyCache
from ..inference.known_models import KnownModels
from ..inference.ratelimit import RateLimiter
from ..protocol.limits import LOGIN_WINDOW_S
from ..runtime import ActorSystem, MailboxFull
from ..storage.protocol import Store
from .hold_recovery import HoldRecovery
from .membership import MembershipChange
from .node import Cluster
from .provider_reach import MAX_IDS_PER_CALL
from .replica_calls import Handler, ReplicaCalls
from .shared_ratelimit import SharedRateLimiter
from .shared_throttle import SharedThrottles

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 200  # a disconnect reason another replica passes (sent to the agent)


@dataclass
class ClusterState:
    """See the module docstring."""

    limiter: SharedRateLimiter
    recovery: HoldRecovery
    calls: ReplicaCalls
    throttles: SharedThrottles


def _handlers(system: ActorSystem) -> dict[str, Handler]:
    async def providers(args: dict[str, Any]) -> dict[str, Any]:
        return {"providers": local_providers(system)}

    async def totals(args: dict[str, Any]) -> dict[str, Any]:
        return {"totals": await local_totals(system)}

    async def drain(args: dict[str, Any]) -> dict[str, Any]:
        return {"found": await drain_provider(system, str(args["provider_id"]))}

    async def disconnect(args: dict[str, Any]) -> dict[str, Any]:
        reason = str(args.get("reason") or ADMIN_DISCONNECT)[:MAX_REASON_CHARS]
        return {"found": await disconnect_provider(system, str(args["provider_id"]), reason)}

    async def revoke_token(args: dict[str, Any]) -> dict[str, Any]:
        return {"disconnected": await disconnect_token_holders(system, str(args["token_id"]))}

    async def states(args: dict[str, Any]) -> dict[str, Any]:
        wanted = args["provider_ids"]
        if not isinstance(wanted, list) or len(wanted) > MAX_IDS_PER_CALL:
            raise ValueError(f"provider_ids must be a list of at most {MAX_IDS_PER_CALL}")
        return {"states": provider_states(system, {str(p) for p in wanted})}

    return {
        "providers": providers,
        "provider_states": states,
        "totals": totals,
        "drain": drain,
        "disconnect": disconnect,
        "revoke_token": revoke_token,
    }


@asynccontextmanager
async def open_cluster_state(
    cluster: Cluster,
    store: Store,
    system: ActorSystem,
    keys: ApiKeyCache,
    local_limiter: RateLimiter,
    models: KnownModels,
) -> AsyncIterator[ClusterState]:
    """Start the shared limiter and throttles, hold recovery and replica calls; stop them on
    exit."""
    membership = cluster.membership

    def live() -> list[str]:
        return [r.replica_id for r in membership.live_replicas()]

    def forget_key(change: dict[str, Any]) -> None:
        keys.forget(str(change["key_id"]))

    def forget_price(change: dict[str, Any]) -> None:
        model = change.get("model")
        try:
            system.lookup("/root/billing").tell(PriceChanged(None if model is None else str(model)))
        except (LookupError, MailboxFull) as exc:
            log.warning("could not drop the billing actor's price of %s: %s", model, exc)
        models.expire()

    state = ClusterState(
        limiter=SharedRateLimiter(cluster.transport, local_limiter),
        recovery=HoldRecovery(store, cluster.replica_id, live, complete=membership.view_complete),
        calls=ReplicaCalls(
            cluster.transport,
            membership,
            _handlers(system),
            on_change={"api_key": [forget_key], "pricing": [forget_price]},
        ),
        throttles=SharedThrottles(cluster.transport, LOGIN_WINDOW_S),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(state.limiter.run)
        await nursery.start(state.throttles.run)
        await nursery.start(state.recovery.run)
        await nursery.start(state.calls.run)
        nursery.start_soon(_recover_lapsed, cluster, state.recovery)
        try:
            yield state
        finally:
            nursery.cancel_scope.cancel()


async def _recover_lapsed(cluster: Cluster, recovery: HoldRecovery) -> None:
    """Sweep a replica's holds when membership sees it lapse or leave, and once more a
    lapse period later (its store heartbeat may be a moment younger than its last NATS
    heartbeat)."""
    async with cluster.membership.events() as events, trio.open_nursery() as nursery:
        async for event in events:
            if event.change in (MembershipChange.LAPSED, MembershipChange.LEFT):
                nursery.start_soon(_sweep_twice, recovery, event.replica_id)


async def _sweep_twice(recovery: HoldRecovery, replica_id: str) -> None:
    await recovery.replica_lapsed(replica_id)
    await trio.sleep(recovery.lapse_s + recovery.heartbeat_s)
    await recovery.replica_lapsed(replica_id)
