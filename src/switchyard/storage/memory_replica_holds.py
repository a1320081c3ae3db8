"""MemoryReplicaHoldsMixin: `ReplicaHoldStore` for the in-memory store.

A single process has no survivors to race, but the rules are the same as Postgres's
(the conformance tests run both), with `time.monotonic()` as the store's clock.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection

import trio

from . import validate as v
from .models import HoldRecord, HoldStatus


class MemoryReplicaHoldsMixin:
    """Mixed into MemoryStore, whose `_holds` it reads and re-assigns."""

    _holds: dict[str, HoldRecord]
    _replica_seen: dict[str, float]

    async def replica_alive(self, replica_id: str) -> None:
        await trio.lowlevel.checkpoint()
        self._replica_seen[v.ident(replica_id, "replica_id")] = time.monotonic()

    async def adopt_holds(
        self,
        adopter: str,
        *,
        stale_after_s: float,
        live: Collection[str] = (),
        only: str | None = None,
    ) -> list[HoldRecord]:
        await trio.lowlevel.checkpoint()
        adopter = v.ident(adopter, "adopter")
        stale = v.duration_s(stale_after_s, "stale_after_s")
        spared = {adopter, *(v.ident(r, "live") for r in live)}
        target = v.optional_ident(only, "only")
        cutoff = time.monotonic() - stale

        def gone(replica: str | None) -> bool:
            if replica is None:
                return target is None
            if replica in spared or (target is not None and replica != target):
                return False
            return self._replica_seen.get(replica, float("-inf")) < cutoff

        adopted = []
        for hold in sorted(self._holds.values(), key=lambda h: (h.created_at, h.request_id)):
            if hold.status is HoldStatus.OPEN and gone(hold.replica_id):
                moved = dataclasses.replace(hold, replica_id=adopter)
                self._holds[hold.request_id] = moved
                adopted.append(moved)
        return adopted

    async def forget_replicas(self, older_than_s: float) -> int:
        await trio.lowlevel.checkpoint()
        cutoff = time.monotonic() - v.duration_s(older_than_s, "older_than_s")
        old = [r for r, seen in self._replica_seen.items() if seen < cutoff]
        for replica in old:
            del self._replica_seen[replica]
        return len(old)
