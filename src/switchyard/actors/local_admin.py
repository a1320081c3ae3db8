"""What an administrator reads of this process's actors: the providers connected here,
the supervisor totals (with the scheduler's counts); `merge_totals` sums several
replicas' totals. The commands themselves (drain, disconnect, closing a revoked token's
connections) are `provider_control.py`'s, reached cluster-wide by
`cluster/provider_reach.py`.

The admin routes call these for the local replica; in a cluster the replica that owns a
provider's connection runs the same functions when asked over NATS
(`cluster/replica_calls.py`), so an admin call works wherever it lands.
"""

from __future__ import annotations

import logging
from typing import Any

from ..runtime import ActorStopped, ActorSystem, AskTimeout
from .provider_messages import PROVIDERS_PATH
from .scheduler_messages import SchedulerStats

log = logging.getLogger(__name__)

PROVIDER_FIELDS = ("id", "status", "trust", "models", "inflight", "routable", "upstream")
MAX_LISTED = 5_000  # providers one replica lists (a bound on the admin answer's size)
ADMIN_DISCONNECT = "disconnected by an administrator"  # the reason an admin's close gives
STATS_TIMEOUT_S = 1.0  # how long the totals wait for the scheduler
SCHEDULER_TOTALS = ("reserved_slots", "queued", "reserved_by_model", "queued_by_model")


async def scheduler_totals(system: ActorSystem) -> dict[str, Any]:
    """Reserved and queued counts from the scheduler, or `None` values if it is not answering."""
    try:
        scheduler = system.lookup("/root/scheduler")
        stats = await scheduler.ask(SchedulerStats(), timeout=STATS_TIMEOUT_S)
    except (AskTimeout, ActorStopped, LookupError) as exc:
        log.warning("inspection: scheduler did not answer (%s)", type(exc).__name__)
        return dict.fromkeys(SCHEDULER_TOTALS)
    return {
        "reserved_slots": stats["reserved_total"],
        "queued": stats["queued_total"],
        "reserved_by_model": stats["reserved_by_model"],
        "queued_by_model": stats["queued_by_model"],
    }


async def local_totals(system: ActorSystem) -> dict[str, Any]:
    """This process's supervisor totals (actors, restarts, dead letters) and the
    scheduler's (reserved slots, queued; per model)."""
    totals: dict[str, Any] = system.snapshot()["totals"]
    return {**totals, **await scheduler_totals(system)}


def local_providers(system: ActorSystem) -> list[dict[str, Any]]:
    """The providers connected to this process, as `/admin/providers` shows them."""
    states = system.children_states(PROVIDERS_PATH)
    listed = [{k: s[k] for k in PROVIDER_FIELDS} for s in states if "id" in s]
    return listed[:MAX_LISTED]


def merge_totals(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum supervisor totals of several replicas: numbers add, per-model dicts add per
    model; a value some replica could not give (None) makes the sum None."""
    merged: dict[str, Any] = {}
    for totals in parts:
        for key, value in totals.items():
            if key not in merged:
                merged[key] = dict(value) if isinstance(value, dict) else value
            elif value is None or merged[key] is None:
                merged[key] = None
            elif isinstance(value, dict) and isinstance(merged[key], dict):
                for model, count in value.items():
                    merged[key][model] = merged[key].get(model, 0) + count
            elif isinstance(value, int | float) and isinstance(merged[key], int | float):
                merged[key] += value
    return merged
