"""HoldRecovery: a gone replica's open holds are released by exactly one survivor.

Every hold carries the id of the replica that placed it (`BillingConfig.replica_id`). A
replica's holds are in flight while it runs, so nobody else may touch them; once it is
gone they must be released (no hold stays open). The rule:

- at start-up, before serving, a replica releases only the holds of a previous run under
  its own id (`recover_open_holds(store, replica_id)`);
- while it runs it renews its liveness in the store every `HEARTBEAT_S`
  (`ReplicaHoldStore.replica_alive`, the store's clock);
- one lapse period after start (the grace: every live replica has heartbeated on NATS by
  then) and every `SWEEP_S` after, it sweeps: holds of replicas that are neither in the
  membership's live set nor seen by the store within the lapse period are adopted
  (`adopt_holds`, atomic: each hold goes to exactly one adopter) and released;
- when membership reports a replica lapsed, that replica's holds are swept at once.

Both conditions must hold before a hold is touched: a replica cut off from NATS but still
writing its heartbeat to Postgres keeps its in-flight holds (it still settles them), and a
replica the store has not heard from but NATS still sees is left alone too. So a sweeper
must see the cluster: while its own membership view is incomplete (`complete()` false:
NATS not connected for a lapse period yet — a replica started during a NATS outage, or
one cut off now, to which every other replica looks gone) it adopts nothing and only
retries releasing holds it already adopted. Without a cluster none of this runs
(`recover_open_holds` releases everything at start-up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

import trio

from ..metrics import HOLDS
from ..storage.errors import StoreError
from ..storage.models import HoldRecord
from ..storage.protocol import Store

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0  # store liveness renewal
LAPSE_S = 3.0  # a replica unseen this long (NATS and store) is gone
SWEEP_S = 10.0  # periodic sweep for holds of replicas gone while nobody watched
FORGET_S = 3600.0  # liveness rows older than this are deleted


class HoldRecovery:
    """See the module docstring. `live()` returns the membership's live replica ids,
    `complete()` whether that view can be trusted (default: always)."""

    def __init__(
        self,
        store: Store,
        replica_id: str,
        live: Callable[[], Collection[str]],
        *,
        complete: Callable[[], bool] = lambda: True,
        lapse_s: float = LAPSE_S,
        heartbeat_s: float = HEARTBEAT_S,
        sweep_s: float = SWEEP_S,
    ) -> None:
        self.store = store
        self.replica_id = replica_id
        self._live = live
        self._complete = complete
        self.lapse_s = lapse_s
        self.heartbeat_s = heartbeat_s
        self.sweep_s = sweep_s
        self.recovered = 0  # holds this replica adopted and released
        self._sweep_lock = trio.Lock()
        self._unreleased: set[str] = set()  # adopted, release failed: retried each sweep

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Heartbeat and sweep until cancelled; started once the first heartbeat is in."""
        await self._heartbeat()
        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeats)
            nursery.start_soon(self._sweeps)

    async def _heartbeat(self) -> None:
        try:
            await self.store.replica_alive(self.replica_id)
        except StoreError as exc:
            log.warning("could not record replica liveness: %s", exc)

    async def _heartbeats(self) -> None:
        while True:
            await trio.sleep(self.heartbeat_s)
            await self._heartbeat()

    async def _sweeps(self) -> None:
        await trio.sleep(self.lapse_s)  # the grace: live replicas have heartbeated by now
        while True:
            await self.sweep()
            try:
                await self.store.forget_replicas(FORGET_S)
            except StoreError as exc:
                log.debug("could not forget old replicas: %s", exc)
            await trio.sleep(self.sweep_s)

    async def replica_lapsed(self, replica_id: str) -> int:
        """Membership saw `replica_id` lapse: release its holds if it is gone for the store too."""
        if replica_id == self.replica_id:
            return 0
        return await self.sweep(only=replica_id)

    async def sweep(self, only: str | None = None) -> int:
        """Adopt and release the open holds of gone replicas; how many were released."""
        async with self._sweep_lock:
            adopted: list[HoldRecord] = []
            if not self._complete():
                log.debug("hold recovery: the cluster view is incomplete; adopting nothing")
            else:
                try:
                    adopted = await self.store.adopt_holds(
                        self.replica_id,
                        stale_after_s=self.lapse_s,
                        live=set(self._live()),
                        only=only,
                    )
                except StoreError as exc:
                    log.warning("could not look for holds of gone replicas: %s", exc)
                    return 0
            released = 0
            self._unreleased.update(hold.request_id for hold in adopted)
            for request_id in sorted(self._unreleased):
                try:
                    outcome = await self.store.release_hold(request_id)
                except StoreError as exc:
                    # it is ours now: retried at the next sweep (or adopted in turn
                    # once this replica is gone)
                    log.warning("could not release adopted hold %s: %s", request_id, exc)
                    continue
                self._unreleased.discard(request_id)
                if not outcome.already_closed:
                    released += 1
                    HOLDS.labels("recovered").inc()
            if adopted:
                log.warning(
                    "released %d open holds of gone replicas (%s)",
                    released,
                    only or "sweep",
                )
            self.recovered += released
            return released
