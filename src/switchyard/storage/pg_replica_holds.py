"""PgReplicaHoldsMixin: `ReplicaHoldStore` on PostgreSQL.

Liveness is `replica_heartbeats.seen_at` on the database's clock, so replicas need not
agree on time. Adoption is one `UPDATE ... RETURNING`: two survivors adopting at once
serialize on the rows' locks, and the second re-checks its condition against the
re-assigned rows (now the first adopter's, a live replica), so each hold is adopted once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import asyncpg

from . import validate as v
from .models import HoldRecord
from .pg_rows import HOLD_COLS, to_hold

T = TypeVar("T")

_ADOPT = f"""
UPDATE holds h SET replica_id = $1
WHERE h.status = 'open'
  AND (h.replica_id IS NULL AND $4::text IS NULL
       OR h.replica_id IS NOT NULL
          AND h.replica_id <> ALL($2::text[])
          AND ($4::text IS NULL OR h.replica_id = $4)
          AND NOT EXISTS (
              SELECT 1 FROM replica_heartbeats r
              WHERE r.replica_id = h.replica_id
                AND r.seen_at > now() - make_interval(secs => $3)))
RETURNING {HOLD_COLS}
"""


async def _alive(conn: asyncpg.Connection, replica_id: str) -> None:
    await conn.execute(
        "INSERT INTO replica_heartbeats (replica_id) VALUES ($1) "
        "ON CONFLICT (replica_id) DO UPDATE SET seen_at = now()",
        replica_id,
    )


async def _adopt(
    conn: asyncpg.Connection, adopter: str, spared: list[str], stale: float, only: str | None
) -> list[HoldRecord]:
    rows = await conn.fetch(_ADOPT, adopter, spared, stale, only)
    return sorted((to_hold(r) for r in rows), key=lambda h: (h.created_at, h.request_id))


async def _forget(conn: asyncpg.Connection, older_than: float) -> int:
    status = await conn.execute(
        "DELETE FROM replica_heartbeats WHERE seen_at < now() - make_interval(secs => $1)",
        older_than,
    )
    return int(status.split()[-1])


class PgReplicaHoldsMixin:
    """Mixed into PostgresStore (which provides `_run`)."""

    _run: Callable[..., Awaitable[Any]]

    async def replica_alive(self, replica_id: str) -> None:
        await self._run(_alive, v.ident(replica_id, "replica_id"))

    async def adopt_holds(
        self,
        adopter: str,
        *,
        stale_after_s: float,
        live: Collection[str] = (),
        only: str | None = None,
    ) -> list[HoldRecord]:
        adopter = v.ident(adopter, "adopter")
        spared = sorted({adopter, *(v.ident(r, "live") for r in live)})
        stale = v.duration_s(stale_after_s, "stale_after_s")
        target = v.optional_ident(only, "only")
        adopted: list[HoldRecord] = await self._run(_adopt, adopter, spared, stale, target)
        return adopted

    async def forget_replicas(self, older_than_s: float) -> int:
        count: int = await self._run(_forget, v.duration_s(older_than_s, "older_than_s"))
        return count
