"""Dashboard page times: each page fetched many times over loopback, with a month of usage.

A coordinator (memory store) and one signed-up account with 5 API keys and 30 days of
usage across 4 models (its rows written straight into the store, as the billing actor
would). Each page is then fetched `--rounds` times, one request at a time, through httpx
on 127.0.0.1: the times are server render plus loopback HTTP. Prints p50/p95 and the page
size, and writes bench/results/dashboard.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import trio

from switchyard.launch import running_coordinator
from switchyard.settings import Settings
from switchyard.storage.memory import MemoryStore
from switchyard.storage.models import UsageRecord, utc_now

RESULTS = Path(__file__).parent / "results" / "dashboard.json"
PAGES = ("/dashboard/", "/dashboard/keys", "/dashboard/usage?days=30", "/dashboard/usage?days=90",
         "/dashboard/billing", "/dashboard/providers", "/dashboard/device")  # fmt: skip
MODELS = ("llama-3.1-8b", "qwen2.5-7b", "mistral-7b", "sim-small")
ADMIN = "bench-admin-key"


async def _seed(store: MemoryStore, account_id: str, days: int) -> int:
    now, rows = utc_now(), []
    for day in range(days):
        for m, model in enumerate(MODELS):
            for n in range(5):
                rows.append(
                    UsageRecord(
                        request_id=f"bench-{day}-{m}-{n}", account_id=account_id,
                        api_key_id=None, provider_id="prov-bench", model=model,
                        prompt_tokens=100 + day, completion_tokens=200 + 10 * m,
                        cost_micro_usd=1_000 * (m + 1), ttft_ms=50, duration_ms=900,
                        outcome="ok", created_at=now - timedelta(days=day, minutes=n),
                    )
                )  # fmt: skip
    await store.record_usage(rows)
    return len(rows)


async def run(rounds: int) -> dict[str, Any]:
    store = MemoryStore()
    settings = Settings(host="127.0.0.1", port=0, admin_key=ADMIN, cookie_secure=False)
    async with running_coordinator(settings, store) as (_, base):
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(base_url=base, timeout=30) as web:
            code = (await web.post("/admin/invite-codes", json={}, headers=headers)).json()
            body = {"invite_code": code["code"], "login": "bencher", "password": "x" * 16}
            signed = (await web.post("/v1/signup", json=body)).json()
            web.headers["X-CSRF-Token"] = signed["csrf_token"]
            for i in range(5):
                await web.post("/v1/account/keys", json={"name": f"key-{i}"})
            seeded = await _seed(store, signed["account"]["id"], 90)
            results = {}
            for page in PAGES:
                times, size = [], 0
                for _ in range(rounds):
                    start = time.perf_counter()
                    reply = await web.get(page)
                    times.append((time.perf_counter() - start) * 1000)
                    assert reply.status_code == 200, (page, reply.status_code)
                    size = len(reply.content)
                times.sort()
                results[page] = {
                    "p50_ms": round(statistics.median(times), 2),
                    "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
                    "bytes": size,
                }
    return {"rounds": rounds, "usage_rows": seeded, "pages": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    report = trio.run(run, args.rounds)
    print(f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'KiB':>6}")
    for page, r in report["pages"].items():
        print(f"{page:32} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['bytes'] / 1024:6.1f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
