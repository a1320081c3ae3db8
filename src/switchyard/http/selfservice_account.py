"""A consumer's self-service JSON API (README, "Self-service"): session cookie (+ CSRF
token on changes) or an account-management key; logic in `switchyard.selfservice`.

- `GET /v1/account/overview` → the account, its limits, balance and open holds
- `GET /v1/account/usage?days=30` (or `since`/`until` dates) → usage per day and model
- `GET|POST /v1/account/keys`, `PATCH /v1/account/keys/{id}` `{"name"}`,
  `PUT /v1/account/keys/{id}/limits`, `DELETE /v1/account/keys/{id}` → its API keys (the
  raw key once, at creation)
- `GET|POST /v1/account/management-keys`, `PATCH|DELETE /v1/account/management-keys/{id}`
  (creating one needs a session: a key cannot mint keys)
- `POST /v1/account/checkout` → a Stripe Checkout Session, as `/v1/billing/checkout`

Another account's key is a 404, like a missing one; renaming a revoked key is a 409.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from ..protocol.errors import parse_json_body, permission_denied
from ..protocol.selfservice_api import (
    CreateManagementKey,
    CreateOwnKey,
    OwnKeyLimits,
    RenameKey,
)
from ..selfservice import keys, views
from ..selfservice.accounts import account_gone
from ..storage.models import KeyLimits
from .billing import checkout_for
from .context import coordinator
from .selfservice_auth import account_json
from .session_auth import AuthKind, Principal, require_principal

selfservice_account = Blueprint("selfservice_account", __name__)


async def _body(model: type[Any]) -> Any:
    raw = await request.get_data()
    return parse_json_body(raw, model, max_bytes=coordinator().settings.max_body_bytes)


async def _principal() -> Principal:
    return await require_principal()


@selfservice_account.get("/v1/account/overview")
async def overview() -> Response:
    principal = await _principal()
    coord = coordinator()
    balance = await views.balance_view(coord.store, principal.account_id)
    account = await coord.store.get_account(principal.account_id)
    if account is None:
        raise account_gone()
    limits = keys.account_limits(coord.settings)
    return jsonify(
        {
            "account": account_json(account),
            "limits": {"rpm": limits.rpm, "tpm": limits.tpm},
            **balance,
        }
    )


@selfservice_account.get("/v1/account/usage")
async def usage() -> Response:
    principal = await _principal()
    days = views.day_range(request.args)
    return jsonify(await views.usage_view(coordinator().store, principal.account_id, days))


@selfservice_account.get("/v1/account/keys")
async def list_keys() -> Response:
    principal = await _principal()
    return jsonify({"keys": await keys.list_api_keys(coordinator().store, principal.account_id)})


@selfservice_account.post("/v1/account/keys")
async def create_key() -> tuple[Response, int]:
    principal = await _principal()
    body = await _body(CreateOwnKey)
    coord = coordinator()
    created = await keys.create_api_key(
        coord.store, coord.settings, principal.account_id, body.name, KeyLimits(body.rpm, body.tpm)
    )
    return jsonify(created), 201


@selfservice_account.patch("/v1/account/keys/<key_id>")
async def rename_key(key_id: str) -> Response:
    principal = await _principal()
    body = await _body(RenameKey)
    store = coordinator().store
    return jsonify(await keys.rename_api_key(store, principal.account_id, key_id, body.name))


@selfservice_account.put("/v1/account/keys/<key_id>/limits")
async def set_key_limits(key_id: str) -> Response:
    principal = await _principal()
    body = await _body(OwnKeyLimits)
    coord = coordinator()
    updated = await keys.set_api_key_limits(
        coord.store, coord.settings, principal.account_id, key_id, KeyLimits(body.rpm, body.tpm)
    )
    return jsonify(updated)


@selfservice_account.delete("/v1/account/keys/<key_id>")
async def revoke_key(key_id: str) -> Response:
    principal = await _principal()
    return jsonify(await keys.revoke_api_key(coordinator().store, principal.account_id, key_id))


@selfservice_account.get("/v1/account/management-keys")
async def list_management_keys() -> Response:
    principal = await _principal()
    listed = await keys.list_management_keys(coordinator().store, principal.account_id)
    return jsonify({"keys": listed})


@selfservice_account.post("/v1/account/management-keys")
async def create_management_key() -> tuple[Response, int]:
    principal = await _principal()
    if principal.via is not AuthKind.SESSION:
        raise permission_denied("Sign in to create a management key (a key cannot mint keys).")
    body = await _body(CreateManagementKey)
    created = await keys.create_management_key(coordinator().store, principal.account_id, body.name)
    return jsonify(created), 201


@selfservice_account.patch("/v1/account/management-keys/<key_id>")
async def rename_management_key(key_id: str) -> Response:
    principal = await _principal()
    body = await _body(RenameKey)
    store = coordinator().store
    renamed = await keys.rename_management_key(store, principal.account_id, key_id, body.name)
    return jsonify(renamed)


@selfservice_account.delete("/v1/account/management-keys/<key_id>")
async def revoke_management_key(key_id: str) -> Response:
    principal = await _principal()
    revoked = await keys.revoke_management_key(coordinator().store, principal.account_id, key_id)
    return jsonify(revoked)


@selfservice_account.post("/v1/account/checkout")
async def checkout() -> Response:
    principal = await _principal()
    return await checkout_for(principal.account_id)
