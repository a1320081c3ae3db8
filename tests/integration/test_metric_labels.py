"""`/metrics` stays bounded and can be protected: model labels and the metrics token.

The Prometheus registry is process-wide, so the tests compare before/after and use model
names no other test uses.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

import httpx
from prometheus_client.parser import text_string_to_metric_families

from switchyard.agent.simulated import SimulatedConfig
from switchyard.inference.known_models import OTHER_MODEL

from .harness import agents, coordinator, fast_settings, funded_key
from .test_billing_e2e import PRICE, store_for

SIM = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=4)
CHAT = "/v1/chat/completions"


def _request_counts(text: str) -> dict[str, float]:
    """switchyard_requests_total summed by model label."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "switchyard_requests":
            continue
        for sample in family.samples:
            if sample.name == "switchyard_requests_total":
                model = sample.labels["model"]
                counts[model] = counts.get(model, 0.0) + sample.value
    return counts


def _body(model: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


async def test_unknown_models_share_one_series_known_ones_keep_their_name(
    store_target: tuple[str | None, str | None],
) -> None:
    served = f"served-{secrets.token_hex(3)}"
    priced = f"priced-{secrets.token_hex(3)}"
    junk = f"junk-{secrets.token_hex(3)}-"
    async with store_for(store_target) as store, coordinator(fast_settings(), store) as running:
        await running.admin.put(f"/admin/pricing/{priced}", json=PRICE)
        async with agents(running, 1, SIM, models=(served,)):
            _, key = await funded_key(running)
            record = await running.coord.store.lookup_api_key(key)
            await running.admin.put(f"/admin/keys/{record.id}/limits", json={"rpm": 6})
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
                before = _request_counts((await client.get("/metrics")).text)
                assert (await client.post(CHAT, json=_body(served))).status_code == 200
                assert (
                    await client.post(CHAT, json=_body(priced))
                ).status_code == 503  # priced, nobody online
                statuses = set()
                for i in range(40):  # most of them rate-limited, as in the issue
                    r = await client.post(CHAT, json=_body(f"{junk}{i}"))
                    statuses.add(r.status_code)
                assert statuses == {404, 429}
                after = _request_counts((await client.get("/metrics")).text)
    assert not [model for model in after if model.startswith(junk)]
    assert after.get(OTHER_MODEL, 0) - before.get(OTHER_MODEL, 0) == 40
    assert after[served] - before.get(served, 0) == 1
    assert after[priced] - before.get(priced, 0) == 1


async def test_metrics_token_guards_the_scrape() -> None:
    settings = replace(fast_settings(), metrics_token="scrape-secret")
    async with coordinator(settings) as running:
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            refused = await client.get("/metrics", headers=wrong)
            assert refused.status_code == 401 and "error" in refused.json()
            ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
            assert ok.status_code == 200
            assert "switchyard_requests_total" in ok.text or "switchyard_requests" in ok.text
    async with coordinator() as running:  # no token configured: open, as before
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            assert (await client.get("/metrics")).status_code == 200
