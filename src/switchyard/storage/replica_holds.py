"""ReplicaHoldStore: which cluster replica answers for each open hold, and who is alive.

In a cluster every hold carries the id of the replica that placed it (`create_hold`'s
`replica_id`), and every replica records that it is alive every second on the store's own
clock (`replica_alive`). When a replica is gone its open holds must be released, by
exactly one survivor and never while the replica still runs: `adopt_holds` makes the
adopter responsible for the open holds of replicas that are neither in `live` (the
membership's live set) nor seen by the store within `stale_after_s`, in one atomic step,
so two survivors calling it at once split nothing and adopt nothing twice. The adopter
then releases what it adopted; should it die half way, the rest are its own holds and are
adopted in turn when it is gone.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from .models import HoldRecord


class ReplicaHoldStore(Protocol):
    """See the module docstring."""

    async def replica_alive(self, replica_id: str) -> None:
        """Record that `replica_id` is alive now (the store's clock)."""

    async def adopt_holds(
        self,
        adopter: str,
        *,
        stale_after_s: float,
        live: Collection[str] = (),
        only: str | None = None,
    ) -> list[HoldRecord]:
        """Atomically re-assign to `adopter` the open holds of gone replicas and return
        them (oldest first, as re-assigned). A replica is gone when it is not the adopter,
        not in `live`, and not seen alive within `stale_after_s` seconds. `only` limits
        this to one replica's holds; without it, holds placed outside a cluster (no
        replica id) are adopted too."""

    async def forget_replicas(self, older_than_s: float) -> int:
        """Drop the liveness records not renewed within `older_than_s` seconds (replica ids
        are generated per start, so they would pile up); how many were dropped. A
        forgotten replica counts as gone."""
