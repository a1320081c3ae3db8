"""Self-service from an attacker's side, over real HTTP: another account's keys, nodes and
tokens are 404; changes without the CSRF token are 403; an API key is not an account
credential; a management key cannot mint keys; limits above the account's, oversized
names and huge report ranges are 400s."""

from __future__ import annotations

import httpx
import openai
import pytest

from .selfservice_helpers import agent_for, self_service, signed_up


async def _account_id(client: httpx.AsyncClient) -> str:
    return str((await client.get("/v1/account/session")).json()["account"]["id"])


async def test_another_accounts_keys_and_nodes_are_404(
    store_target: tuple[str | None, str | None],
) -> None:
    async with self_service(store_target) as running:
        async with (
            signed_up(running, "alice") as (alice, _),
            signed_up(running, "mallory") as (
                mallory,
                _,
            ),
        ):
            key = (await alice.post("/v1/account/keys", json={"name": "k"})).json()
            mkey = (await alice.post("/v1/account/management-keys", json={})).json()
            for method, path, body in [
                ("DELETE", f"/v1/account/keys/{key['id']}", None),
                ("PUT", f"/v1/account/keys/{key['id']}/limits", {"rpm": 1}),
                ("DELETE", f"/v1/account/management-keys/{mkey['id']}", None),
                ("DELETE", "/v1/account/keys/key_does_not_exist", None),
            ]:
                reply = await mallory.request(method, path, json=body)
                assert reply.status_code == 404, (path, reply.text)
            assert (await mallory.get("/v1/account/keys")).json()["keys"] == []
            [alice_key] = (await alice.get("/v1/account/keys")).json()["keys"]
            assert alice_key["revoked"] is False and alice_key["rpm"] is None

            owner = await _account_id(alice)
            async with agent_for(running, owner) as agent:
                node = agent.provider_id
                [token] = (await alice.get("/v1/account/provider-tokens")).json()["provider_tokens"]
                for method, path, body in [
                    ("POST", f"/v1/account/nodes/{node}/drain", None),
                    ("POST", f"/v1/account/nodes/{node}/disconnect", None),
                    ("POST", f"/v1/account/nodes/{node}/revoke", None),
                    ("PUT", f"/v1/account/nodes/{node}/leaderboard", {"listed": True}),
                    ("DELETE", f"/v1/account/provider-tokens/{token['id']}", None),
                    ("POST", "/v1/account/nodes/prov-nope/drain", None),
                    ("POST", "/v1/account/nodes/" + "p" * 300 + "/drain", None),
                ]:
                    reply = await mallory.request(method, path, json=body)
                    assert reply.status_code == 404, (path, reply.text)
                assert (await mallory.get("/v1/account/nodes")).json()["nodes"] == []
                state = await running.provider(node)
                assert state is not None and state["status"] == "online"  # untouched

                # The owner may: list it, then revoke it (its token goes, it disconnects).
                [mine] = (await alice.get("/v1/account/nodes")).json()["nodes"]
                assert (mine["id"], mine["connected"], mine["trust"]) == (
                    node,
                    True,
                    "self_signed",
                )
                revoked = await alice.post(f"/v1/account/nodes/{node}/revoke")
                assert revoked.status_code == 200, revoked.text
                assert revoked.json()["disconnected"] == [node]
                assert revoked.json()["token_id"] == token["id"]
                tokens = (await alice.get("/v1/account/provider-tokens")).json()
                assert tokens["provider_tokens"][0]["revoked"] is True
                gone = await alice.post(f"/v1/account/nodes/{node}/drain")
                assert gone.status_code in (200, 409)  # 409 once the socket has closed


async def test_owner_drains_and_disconnects_own_node() -> None:
    async with self_service() as running:
        async with signed_up(running, "owner") as (owner, _):
            async with agent_for(running, await _account_id(owner)) as agent:
                node = agent.provider_id
                drained = await owner.post(f"/v1/account/nodes/{node}/drain")
                assert drained.json() == {"id": node, "status": "draining"}
            async with agent_for(running, await _account_id(owner)) as agent:
                cut = await owner.post(f"/v1/account/nodes/{agent.provider_id}/disconnect")
                assert cut.json() == {"id": agent.provider_id, "status": "disconnected"}


async def test_csrf_credentials_and_key_kinds() -> None:
    async with self_service() as running:
        async with signed_up(running, "victim") as (client, body):
            csrf = client.headers.pop("X-CSRF-Token")
            for method, path, payload in [
                ("POST", "/v1/account/keys", {"name": "evil"}),
                ("POST", "/v1/account/management-keys", {}),
                ("POST", "/v1/account/checkout", {"amount_usd": 10}),
                ("POST", "/v1/device/approve", {"user_code": "BCDF-GHJK"}),
            ]:
                reply = await client.request(method, path, json=payload)
                assert reply.status_code == 403, (path, reply.text)
                assert reply.json()["error"]["code"] == "csrf_failed"
            wrong = await client.post(
                "/v1/account/keys", json={}, headers={"X-CSRF-Token": csrf + "x"}
            )
            assert wrong.status_code == 403
            assert (await client.get("/v1/account/keys")).json()["keys"] == []  # reads are fine
            form = await client.post("/v1/account/keys", data={"csrf_token": csrf})
            assert form.status_code == 400  # the token passed; the body is not JSON

            client.headers["X-CSRF-Token"] = csrf
            api_key = (await client.post("/v1/account/keys", json={})).json()["key"]
            mgmt = (await client.post("/v1/account/management-keys", json={"name": "ci"})).json()
            assert mgmt["key"].startswith("ak-sy-")

        async with httpx.AsyncClient(base_url=running.base_url) as bare:
            # An API key is for inference only; a management key needs no CSRF token.
            as_api = {"Authorization": f"Bearer {api_key}"}
            assert (await bare.get("/v1/account/keys", headers=as_api)).status_code == 401
            as_mgmt = {"Authorization": f"Bearer {mgmt['key']}"}
            made = await bare.post("/v1/account/keys", json={"name": "ci"}, headers=as_mgmt)
            assert made.status_code == 201, made.text
            minted = await bare.post("/v1/account/management-keys", json={}, headers=as_mgmt)
            assert minted.status_code == 403  # a key cannot mint keys
            me = (await bare.get("/v1/account/session", headers=as_mgmt)).json()
            assert me["via"] == "management_key" and me["account"]["id"] == body["account"]["id"]
            revoked = await bare.delete(
                f"/v1/account/management-keys/{mgmt['id']}", headers=as_mgmt
            )
            assert revoked.json()["revoked"] is True
            assert (await bare.get("/v1/account/keys", headers=as_mgmt)).status_code == 401
            nobody = await bare.get("/v1/account/overview")
            assert nobody.status_code == 401
            assert nobody.json()["error"]["code"] == "not_signed_in"
            forged = await bare.get(
                "/v1/account/overview", headers={"Cookie": "switchyard_session=ss-sy-forged"}
            )
            assert forged.status_code == 401


async def test_limits_names_and_ranges_are_bounded() -> None:
    async with self_service(default_rpm=60, default_tpm=1000) as running:
        async with signed_up(running, "bounded") as (client, _):
            over = await client.post("/v1/account/keys", json={"rpm": 61})
            assert over.status_code == 400 and over.json()["error"]["param"] == "rpm"
            assert over.json()["error"]["code"] == "limit_exceeded"
            key = await client.post("/v1/account/keys", json={"rpm": 60, "tpm": 10})
            assert key.status_code == 201 and (key.json()["rpm"], key.json()["tpm"]) == (60, 10)
            path = f"/v1/account/keys/{key.json()['id']}/limits"
            assert (await client.put(path, json={"tpm": 1001})).status_code == 400
            changed = await client.put(path, json={"rpm": 5})
            assert (changed.json()["rpm"], changed.json()["tpm"]) == (5, None)
            overview = (await client.get("/v1/account/overview")).json()
            assert overview["limits"] == {"rpm": 60, "tpm": 1000}

            for body in ({"name": "n" * 101}, {"name": ""}, {"rpm": 0}, {"name": 5}, {"x": 1}):
                reply = await client.post("/v1/account/keys", json=body)
                assert reply.status_code == 400, body
            assert (
                await client.post("/v1/account/management-keys", json={"name": "m" * 101})
            ).status_code == 400
            for params in (
                {"days": "367"},
                {"days": "0"},
                {"days": "lots"},
                {"since": "2020-01-01", "until": "2026-01-01"},
                {"since": "2026-02-01", "until": "2026-01-01"},
                {"since": "yesterday"},
            ):
                for report in ("/v1/account/usage", "/v1/account/earnings"):
                    reply = await client.get(report, params=params)
                    assert reply.status_code == 400, (report, params, reply.text)
            ok = await client.get(
                "/v1/account/usage", params={"since": "2026-01-01", "until": "2026-01-31"}
            )
            assert ok.status_code == 200
            assert (ok.json()["since"], ok.json()["until"], ok.json()["days"]) == (
                "2026-01-01",
                "2026-01-31",
                [],
            )
            revoked = await client.delete(f"/v1/account/keys/{key.json()['id']}")
            assert revoked.json()["revoked"] is True
            assert (await client.put(path, json={"rpm": 1})).status_code == 409


async def test_a_keys_own_limit_is_enforced() -> None:
    async with self_service() as running:
        async with signed_up(running, "limited") as (client, body):
            key = (await client.post("/v1/account/keys", json={"rpm": 1})).json()
            async with agent_for(running, body["account"]["id"]):
                async with openai.AsyncOpenAI(
                    base_url=running.base_url + "/v1", api_key=key["key"], max_retries=0
                ) as sdk:
                    messages = [{"role": "user", "content": "hi"}]
                    await sdk.chat.completions.create(model="sim-small", messages=messages)
                    with pytest.raises(openai.RateLimitError):
                        await sdk.chat.completions.create(model="sim-small", messages=messages)
