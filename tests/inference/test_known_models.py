"""KnownModels: which model names get their own metric label, refreshed once per TTL."""

from __future__ import annotations

import trio

from switchyard.inference.known_models import KNOWN_MODELS_TTL_S, OTHER_MODEL, KnownModels
from switchyard.storage import open_store


async def test_a_newly_priced_model_gets_its_own_label_after_the_cache_refreshes(
    autojump_clock: trio.abc.Clock,
) -> None:
    served_calls = 0

    async def served() -> set[str]:
        nonlocal served_calls
        served_calls += 1
        return {"live"}

    async with open_store(None) as store:
        await store.set_pricing("old", 1, 1)
        models = KnownModels(store, served)
        labels = [await models.label(m) for m in ("live", "old", "new", None, "live", "x")]
        assert labels == ["live", "old", OTHER_MODEL, "-", "live", OTHER_MODEL]
        assert served_calls == 1  # one refresh for all of them: no store call per request
        await store.set_pricing("new", 1, 1)
        assert await models.label("new") == OTHER_MODEL  # cached until the TTL passes
        await trio.sleep(KNOWN_MODELS_TTL_S + 0.1)
        assert await models.label("new") == "new"
        assert served_calls == 2


async def test_a_failing_source_keeps_the_last_answer(autojump_clock: trio.abc.Clock) -> None:
    calls = 0

    async def served() -> set[str]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise TimeoutError("scheduler not answering")
        return {"live"}

    async with open_store(None) as store:
        models = KnownModels(store, served)
        assert await models.label("live") == "live"
        await trio.sleep(KNOWN_MODELS_TTL_S + 0.1)
        assert await models.label("live") == "live"
        assert calls == 2
