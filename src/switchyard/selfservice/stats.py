"""Public network stats (`GET /v1/stats`) and the provider leaderboard, cached briefly.

- models online: models at least one online provider serves (this replica's scheduler,
  and in a cluster the online providers of every other replica that answered);
- providers online: provider actors whose status is `online`, on every replica that
  answered (`replicas_unanswered` names the others; only in a cluster);
- tokens served today: prompt + completion tokens of every request since 00:00 UTC;
- leaderboard: opted-in providers (owners choose, default out) by tokens served over the
  last `LEADERBOARD_DAYS` days, at most `LEADERBOARD_SIZE`.

One answer is reused for `STATS_CACHE_S` seconds, so the endpoint stays cheap however
often it is called; nothing in it names an account.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import trio

from ..actors.provider_control import provider_states
from ..actors.scheduler_messages import ModelsQuery
from ..cluster.provider_reach import ProviderReach
from ..protocol.limits import LEADERBOARD_SIZE, STATS_CACHE_S
from ..protocol.vocabulary import ProviderStatus
from ..storage.models import utc_now
from ..storage.protocol import Store

LEADERBOARD_DAYS = 30
_ASK_TIMEOUT_S = 5.0


class PublicStats:
    """The cached answer (one per coordinator; kept in `SelfServiceState`)."""

    def __init__(self, max_age_s: float = STATS_CACHE_S) -> None:
        self.max_age_s = max_age_s
        self._cached: dict[str, Any] | None = None
        self._at = 0.0

    async def get(self, store: Store, reach: ProviderReach) -> dict[str, Any]:
        """The stats, computed at most once per `max_age_s`."""
        now = trio.current_time()
        if self._cached is None or now - self._at >= self.max_age_s:
            self._cached = await compute(store, reach)
            self._at = trio.current_time()
        return self._cached


async def compute(store: Store, reach: ProviderReach) -> dict[str, Any]:
    """The stats, fresh."""
    system = reach.system
    served = set(await system.lookup("/root/scheduler").ask(ModelsQuery(), timeout=_ASK_TIMEOUT_S))
    online = sum(1 for s in provider_states(system) if s.get("status") == ProviderStatus.ONLINE)
    cluster: dict[str, Any] = {}
    others = await reach.elsewhere()
    if others is not None:
        for answer in others.answers.values():
            for provider in answer.get("providers", []):
                if isinstance(provider, dict) and provider.get("status") == ProviderStatus.ONLINE:
                    online += 1
                    served.update(str(m["id"]) for m in provider.get("models", []))
        cluster["replicas_unanswered"] = others.unanswered
    now = utc_now()
    midnight = datetime.combine(now.date(), time(), UTC)
    tokens_today = await store.served_tokens_since(midnight)
    board = await store.leaderboard(now - timedelta(days=LEADERBOARD_DAYS), LEADERBOARD_SIZE)
    return {
        "models_online": sorted(served),
        "providers_online": online,
        "tokens_served_today": tokens_today,
        "leaderboard": {
            "days": LEADERBOARD_DAYS,
            "providers": [
                {"rank": i, "provider_id": row.provider_id, "tokens_served": row.tokens}
                for i, row in enumerate(board, 1)
            ],
        },
        "as_of": now.isoformat(),
        **cluster,
    }
