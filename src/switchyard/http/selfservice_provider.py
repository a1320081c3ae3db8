"""A provider owner's self-service JSON API (README, "Self-service"): session cookie
(+ CSRF token on changes) or an account-management key; logic in `selfservice/nodes.py`
and `views.py`.

- `GET /v1/account/nodes` → each node: status, trust, models and slots, served tokens,
  errors and earnings over the last 30 days, leaderboard choice
- `POST /v1/account/nodes/{id}/drain|disconnect|revoke`
- `PUT /v1/account/nodes/{id}/leaderboard` `{"listed": true}` (default: not listed)
- `GET /v1/account/earnings?days=30` (or `since`/`until`) → per day and node
- `GET /v1/account/payouts`
- `GET /v1/account/provider-tokens`, `DELETE /v1/account/provider-tokens/{id}`

Another account's node or token is a 404, like a missing one.
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from ..protocol.errors import parse_json_body
from ..protocol.selfservice_api import LeaderboardChoice
from ..selfservice import nodes, views
from .cluster_reach import provider_reach
from .context import coordinator
from .session_auth import require_principal

selfservice_provider = Blueprint("selfservice_provider", __name__)


@selfservice_provider.get("/v1/account/nodes")
async def list_nodes() -> Response:
    principal = await require_principal()
    coord = coordinator()
    listed = await nodes.nodes_view(coord.store, provider_reach(), principal.account_id)
    return jsonify({"nodes": listed})


@selfservice_provider.post("/v1/account/nodes/<provider_id>/drain")
async def drain(provider_id: str) -> Response:
    principal = await require_principal()
    coord = coordinator()
    return jsonify(
        await nodes.drain_node(coord.store, provider_reach(), principal.account_id, provider_id)
    )


@selfservice_provider.post("/v1/account/nodes/<provider_id>/disconnect")
async def disconnect(provider_id: str) -> Response:
    principal = await require_principal()
    store, reach = coordinator().store, provider_reach()
    return jsonify(await nodes.disconnect_node(store, reach, principal.account_id, provider_id))


@selfservice_provider.post("/v1/account/nodes/<provider_id>/revoke")
async def revoke(provider_id: str) -> Response:
    principal = await require_principal()
    coord = coordinator()
    return jsonify(
        await nodes.revoke_node(coord.store, provider_reach(), principal.account_id, provider_id)
    )


@selfservice_provider.put("/v1/account/nodes/<provider_id>/leaderboard")
async def leaderboard(provider_id: str) -> Response:
    principal = await require_principal()
    coord = coordinator()
    raw = await request.get_data()
    body = parse_json_body(raw, LeaderboardChoice, max_bytes=coord.settings.max_body_bytes)
    return jsonify(
        await nodes.set_leaderboard(coord.store, principal.account_id, provider_id, body.listed)
    )


@selfservice_provider.get("/v1/account/earnings")
async def earnings() -> Response:
    principal = await require_principal()
    days = views.day_range(request.args)
    return jsonify(await views.earnings_view(coordinator().store, principal.account_id, days))


@selfservice_provider.get("/v1/account/payouts")
async def payouts() -> Response:
    principal = await require_principal()
    listed = await views.payouts_view(coordinator().store, principal.account_id)
    return jsonify({"payouts": listed})


@selfservice_provider.get("/v1/account/provider-tokens")
async def provider_tokens() -> Response:
    principal = await require_principal()
    tokens = await coordinator().store.list_provider_tokens(principal.account_id)
    return jsonify({"provider_tokens": [nodes.token_json(t) for t in tokens]})


@selfservice_provider.delete("/v1/account/provider-tokens/<token_id>")
async def revoke_provider_token(token_id: str) -> Response:
    principal = await require_principal()
    coord = coordinator()
    return jsonify(
        await nodes.revoke_own_token(coord.store, provider_reach(), principal.account_id, token_id)
    )
