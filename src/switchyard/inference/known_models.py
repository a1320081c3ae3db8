"""KnownModels: the model names worth a metric label of their own.

A request names any model it likes, and a label per name would let anyone grow the metric
series without bound. Known models are those with a price in the store or served by an
online provider now; every other name is counted as `other`. The set is refreshed at most
once per `KNOWN_MODELS_TTL_S` by whichever request finds it stale (the others keep using
the previous set meanwhile), so the hot path makes no store call; a failing source keeps
its last answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import trio

from ..storage.protocol import Store

log = logging.getLogger(__name__)

KNOWN_MODELS_TTL_S = 5.0
REFRESH_TIMEOUT_S = 2.0
OTHER_MODEL = "other"  # the label of every model that is neither priced nor served
NO_MODEL = "-"  # the label of a request that named no model (refused before parsing)


class KnownModels:
    """Maps a requested model name to its metric label (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        served: Callable[[], Awaitable[Iterable[str]]],
        ttl_s: float = KNOWN_MODELS_TTL_S,
    ) -> None:
        self._store = store
        self._served = served
        self._ttl_s = ttl_s
        self._priced: frozenset[str] = frozenset()
        self._serving: frozenset[str] = frozenset()
        self._refresh_at = -float("inf")

    def expire(self) -> None:
        """Refresh at the next lookup (a price was set or changed)."""
        self._refresh_at = -float("inf")

    async def label(self, model: str | None) -> str:
        """`model` when it is known, `other` when not, `-` when there is none."""
        if not model:
            return NO_MODEL
        now = trio.current_time()
        if now >= self._refresh_at:
            self._refresh_at = now + self._ttl_s  # claimed: concurrent callers do not refresh
            await self._refresh()
        return model if model in self._priced or model in self._serving else OTHER_MODEL

    async def _refresh(self) -> None:
        with trio.move_on_after(REFRESH_TIMEOUT_S):
            try:
                self._priced = frozenset(p.model for p in await self._store.list_pricing())
            except Exception as exc:
                log.warning("known models: pricing unavailable (%s)", type(exc).__name__)
        with trio.move_on_after(REFRESH_TIMEOUT_S):
            try:
                self._serving = frozenset(await self._served())
            except Exception as exc:
                log.warning("known models: served models unavailable (%s)", type(exc).__name__)
