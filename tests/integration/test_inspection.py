"""Supervisor inspection: `/admin/supervisor` JSON, admin-key refusals, the HTML page.

The JSON is checked while traffic flows and providers come and go; reservations are
driven by a hand-held provider so "in flight" lasts exactly as long as the test wants.
The HTML page is rendered by headless Chromium (skipped when absent, failed under CI).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import httpx
import trio

from switchyard.agent.simulated import SimulatedConfig
from switchyard.http.app import create_app

from ..polling import wait_until
from .browser import dump_dom
from .harness import (
    ADMIN_KEY,
    Running,
    agents,
    coordinator,
    fast_settings,
    funded_key,
    raw_provider,
)

NODE_KEYS = {
    "path", "class", "status", "mailbox", "handled", "restarts", "last_error", "uptime_s",
    "state", "children",
}  # fmt: skip
TOTAL_KEYS = {"actors", "restarts", "dead_letters", "reserved_slots", "queued"}
PROVIDERS = "/root/providers"


async def supervisor(running: Running) -> dict[str, Any]:
    response = await running.admin.get("/admin/supervisor")
    assert response.status_code == 200, response.text
    return response.json()


def flatten(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every node of the tree by path."""
    nodes = {node["path"]: node}
    for child in node["children"]:
        nodes.update(flatten(child))
    return nodes


def check_consistent(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fixed shape holds and the totals agree with the tree; returns the nodes."""
    assert TOTAL_KEYS <= snapshot["totals"].keys()
    nodes = flatten(snapshot["tree"])
    for node in nodes.values():
        assert node.keys() == NODE_KEYS
        assert node["mailbox"].keys() == {"depth", "capacity"}
    totals = snapshot["totals"]
    assert totals["actors"] == len(nodes)
    assert totals["restarts"] == sum(n["restarts"] for n in nodes.values())
    return nodes


def provider_paths(nodes: dict[str, dict[str, Any]]) -> set[str]:
    return {p for p in nodes if p.startswith(PROVIDERS + "/")}


async def test_supervisor_json_has_fixed_fields_and_scheduler_totals() -> None:
    async with coordinator() as running:
        snapshot = await supervisor(running)
        nodes = check_consistent(snapshot)
        assert {"/root", "/root/scheduler", "/root/billing", PROVIDERS} <= nodes.keys()
        assert nodes["/root/scheduler"]["class"] == "SchedulerActor"
        assert nodes["/root/scheduler"]["status"] == "running"
        totals = snapshot["totals"]
        assert (totals["reserved_slots"], totals["queued"]) == (0, 0)
        assert (totals["reserved_by_model"], totals["queued_by_model"]) == ({}, {})
        assert totals["restarts"] == 0
        assert provider_paths(nodes) == set()


async def test_inspection_under_load_providers_come_and_go_and_restarts_count() -> None:
    sim = SimulatedConfig(ttft_s=0.0, tokens_per_s=400.0, output_tokens=8)
    async with coordinator() as running, agents(running, count=2, sim=sim) as fleet:
        _, key = await funded_key(running)
        ids = [agent.provider_id for agent in fleet.agents]
        stop_load = trio.Event()
        statuses: list[int] = []

        async def load() -> None:
            headers = {"Authorization": f"Bearer {key}"}
            body = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
            async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
                while not stop_load.is_set():
                    response = await client.post("/v1/chat/completions", json=body, timeout=30)
                    statuses.append(response.status_code)

        async def snapshot_has(predicate: Any) -> Any:
            snapshot = await supervisor(running)
            nodes = check_consistent(snapshot)
            return (snapshot, nodes) if predicate(snapshot, nodes) else None

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(load)
            snapshot, nodes = await wait_until(
                lambda: snapshot_has(lambda s, n: {f"{PROVIDERS}/{i}" for i in ids} <= n.keys())
            )
            for provider_id in ids:
                node = nodes[f"{PROVIDERS}/{provider_id}"]
                assert node["class"] == "ProviderActor"
                assert node["state"]["id"] == provider_id
            base_actors = snapshot["totals"]["actors"]

            # A hand-driven provider appears while connected and vanishes when it leaves.
            _, token = await running.provider_token("raw-owner")
            async with raw_provider(running, token) as raw:
                await raw.register()
                await raw.pass_challenge()
                raw_path = f"{PROVIDERS}/{raw.provider_id}"
                await wait_until(lambda: snapshot_has(lambda s, n: raw_path in n))
                assert raw.provider_id in {p["id"] for p in await running.providers()}
            await wait_until(
                lambda: snapshot_has(
                    lambda s, n: raw_path not in n and s["totals"]["actors"] == base_actors
                )
            )

            # An agent that stops disappears from the tree and from the totals.
            gone = f"{PROVIDERS}/{ids[1]}"
            fleet.agents[1].stop(0.5)
            snapshot, _ = await wait_until(lambda: snapshot_has(lambda s, n: gone not in n))
            assert snapshot["totals"]["actors"] == base_actors - 1
            stop_load.set()
        assert 200 in statuses

        # A provider actor crash is restarted and counted, and the provider comes back.
        # (Done once the load has drained: see the report on late frames after a restart.)
        crashed = f"{PROVIDERS}/{ids[0]}"
        restarts_before = snapshot["totals"]["restarts"]
        running.coord.system.lookup(crashed).tell(object())
        snapshot, nodes = await wait_until(
            lambda: snapshot_has(lambda s, n: n.get(crashed, {}).get("restarts") == 1)
        )
        assert snapshot["totals"]["restarts"] == restarts_before + 1
        assert snapshot["totals"]["actors"] == base_actors - 1
        assert nodes[crashed]["last_error"]["type"] == "UnhandledMessage"
        assert isinstance(nodes[crashed]["last_error"]["at"], float)

        async def routable_again() -> bool:
            info = await running.provider(ids[0])
            return bool(info and info["routable"])

        await wait_until(routable_again)
        assert (await supervisor(running))["totals"]["restarts"] == restarts_before + 1


async def test_reserved_and_queued_follow_in_flight_streams() -> None:
    async with coordinator() as running:
        _, token = await running.provider_token()
        _, key = await funded_key(running)
        async with raw_provider(running, token) as p, trio.open_nursery() as nursery:
            await p.register(models=[{"id": "m1", "slots": 1}])
            await p.pass_challenge()

            async def routable() -> bool:
                info = await running.provider(p.provider_id)
                return bool(info and info["routable"])

            await wait_until(routable)
            finished: list[str] = []

            async def stream(name: str) -> None:
                headers = {"Authorization": f"Bearer {key}"}
                body = {"model": "m1", "messages": [{"role": "user", "content": name}],
                        "stream": True}  # fmt: skip
                async with (
                    httpx.AsyncClient(base_url=running.base_url, headers=headers) as client,
                    client.stream("POST", "/v1/chat/completions", json=body, timeout=30) as r,
                ):
                    assert r.status_code == 200
                    lines = [line async for line in r.aiter_lines()]
                assert "data: [DONE]" in lines
                finished.append(name)

            async def totals() -> dict[str, Any]:
                return (await supervisor(running))["totals"]

            async def complete(request: dict[str, Any]) -> None:
                rid = request["request_id"]
                await p.send({"type": "chunk", "request_id": rid, "deltas": [{"content": "x"}]})
                await p.send({"type": "complete", "request_id": rid, "finish_reason": "stop",
                              "usage": {"prompt_tokens": 2, "completion_tokens": 1}})  # fmt: skip

            nursery.start_soon(stream, "first")
            first = await p.recv_type("inference_request")
            # The stream is in flight (the provider has not answered): its slot is reserved.
            now = await totals()
            assert (now["reserved_slots"], now["queued"]) == (1, 0)
            assert now["reserved_by_model"] == {"m1": 1}

            nursery.start_soon(stream, "second")
            now = await wait_until(lambda: _when(totals, lambda t: t["queued"] == 1))
            assert now["reserved_slots"] == 1
            assert now["queued_by_model"] == {"m1": 1}

            await complete(first)
            second = await p.recv_type("inference_request")
            now = await totals()
            assert (now["reserved_slots"], now["queued"]) == (1, 0)
            await complete(second)
            now = await wait_until(lambda: _when(totals, lambda t: t["reserved_slots"] == 0))
            assert now["queued"] == 0
            assert now["reserved_by_model"].get("m1", 0) == 0
        assert sorted(finished) == ["first", "second"]


async def _when(fetch: Any, predicate: Any) -> Any:
    value = await fetch()
    return value if predicate(value) else None


async def test_tree_is_returned_when_the_scheduler_does_not_answer() -> None:
    async with coordinator() as running:
        assert await running.coord.system.stop("/root/scheduler")
        snapshot = await supervisor(running)
        nodes = check_consistent(snapshot)
        assert "/root/scheduler" not in nodes and "/root/billing" in nodes
        totals = snapshot["totals"]
        assert totals["reserved_slots"] is None and totals["queued"] is None
        assert totals["reserved_by_model"] is None and totals["queued_by_model"] is None


def admin_routes(running: Running) -> list[tuple[str, str]]:
    """(method, concrete path) of every admin route registered on the app."""
    app = create_app(running.coord)
    routes = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if not (rule.rule.startswith("/admin") or blueprint in {"admin", "inspection"}):
            continue
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        routes.extend((m, path) for m in sorted(rule.methods or ()) if m not in {"HEAD", "OPTIONS"})
    return routes


async def test_every_admin_route_refuses_a_missing_or_wrong_key() -> None:
    async with coordinator() as running:
        routes = admin_routes(running)
        paths = {path for _, path in routes}
        assert {"/admin", "/admin/supervisor", "/admin/accounts", "/admin/providers",
                "/admin/keys/x", "/admin/pricing/x"} <= paths  # fmt: skip
        attempts: list[tuple[dict[str, str], dict[str, str]]] = [
            ({}, {}),
            ({"Authorization": "Bearer wrong-key"}, {}),
            ({"Authorization": f"Bearer {ADMIN_KEY}x"}, {}),
            ({"Authorization": ADMIN_KEY}, {}),  # not a Bearer credential
            ({}, {"key": "wrong-key"}),
        ]
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
            for method, path in routes:
                body = {} if method in {"POST", "PUT", "PATCH"} else None
                for headers, params in attempts:
                    r = await client.request(
                        method, path, headers=headers, params=params, json=body
                    )
                    assert r.status_code == 401, (method, path, headers, params, r.text)
                    assert r.json()["error"]["code"] == "invalid_admin_key"
                if path != "/admin":  # only the HTML page takes the key from its URL
                    r = await client.request(method, path, params={"key": ADMIN_KEY}, json=body)
                    assert r.status_code == 401, (method, path)

    # With no admin key configured, everything is refused whatever is presented.
    async with coordinator(replace(fast_settings(), admin_key=None)) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
            for method, path in admin_routes(running):
                headers = {"Authorization": "Bearer anything"}
                r = await client.request(method, path, headers=headers, params={"key": ""})
                assert r.status_code == 401, (method, path)


async def test_admin_page_takes_the_key_from_header_or_query() -> None:
    async with coordinator() as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
            by_query = await client.get("/admin", params={"key": ADMIN_KEY})
        by_header = await running.admin.get("/admin")
        for response in (by_query, by_header):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["cache-control"] == "no-store"
            csp = response.headers["content-security-policy"]
            nonce = re.search(r"'nonce-([^']+)'", csp)
            assert nonce and f'<script nonce="{nonce.group(1)}">' in response.text
            assert "__CSP_NONCE__" not in response.text
        assert (
            by_query.headers["content-security-policy"]
            != by_header.headers["content-security-policy"]
        )


async def test_admin_page_renders_the_tree_in_headless_chromium(chromium: str) -> None:
    async with coordinator() as running, agents(running, count=2) as fleet:
        dom = await dump_dom(chromium, f"{running.base_url}/admin?key={ADMIN_KEY}")
        assert 'data-path="/root/scheduler"' in dom
        for path in ("/root", "/root/billing", PROVIDERS):
            assert f">{path}</td>" in dom
        for agent in fleet.agents:
            assert f">{PROVIDERS}/{agent.provider_id}</td>" in dom
            assert f'data-provider="{agent.provider_id}"' in dom
        assert "SchedulerActor" in dom and "ProviderActor" in dom
        status = re.search(r'<span id="status" class="([^"]*)">([^<]*)</span>', dom)
        assert status and status.group(1) == "muted" and status.group(2).startswith("updated")
