"""Admin API (README, "Operating"): accounts, keys, credit, provider tokens, pricing, providers.

Every route needs `Authorization: Bearer <admin key>`, checked by `admin_auth` (constant
time; with no admin key configured everything is refused). The inspection routes
(`/admin`, `/admin/supervisor`) live in `inspection.py` behind the same check.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from ..actors.local_admin import ADMIN_DISCONNECT, local_providers
from ..cluster.provider_reach import Reached
from ..protocol.admin_api import (
    CreateAccount,
    CreateKey,
    CreateProviderToken,
    CreditAccount,
    KeyLimitsBody,
    SetPricing,
)
from ..protocol.errors import invalid_request, not_found, parse_json_body
from ..protocol.vocabulary import ApiErrorCode, ProviderStatus
from ..storage.errors import UnknownAccount
from ..storage.models import Account, KeyLimits, Pricing
from .admin_auth import require_admin_key
from .cluster_reach import announce, ask_others, provider_reach
from .context import coordinator

admin = Blueprint("admin", __name__)


@admin.before_request
async def _require_admin_key() -> None:
    require_admin_key()


async def _body(model: type[Any]) -> Any:
    raw = await request.get_data()
    return parse_json_body(raw, model, max_bytes=coordinator().settings.max_body_bytes)


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "balance_micro_usd": account.balance_micro_usd,
        "earnings_micro_usd": account.earnings_micro_usd,
    }


async def _account_or_404(account_id: str) -> Account:
    account = await coordinator().store.get_account(account_id)
    if account is None:
        raise not_found(f"No account {account_id!r}.", ApiErrorCode.ACCOUNT_NOT_FOUND)
    return account


@admin.post("/admin/accounts")
async def create_account() -> tuple[Response, int]:
    body = await _body(CreateAccount)
    account = await coordinator().store.create_account(body.name)
    return jsonify(_account_json(account)), 201


@admin.get("/admin/accounts")
async def list_accounts() -> Response:
    accounts = await coordinator().store.list_accounts()
    return jsonify({"accounts": [_account_json(a) for a in accounts]})


@admin.get("/admin/accounts/<account_id>")
async def show_account(account_id: str) -> Response:
    # Holds first: once they read 0, the balance read after them includes every settlement.
    open_holds = await coordinator().store.count_open_holds(account_id)
    account = await _account_or_404(account_id)
    return jsonify({**_account_json(account), "open_holds": open_holds})


@admin.post("/admin/accounts/<account_id>/keys")
async def create_key(account_id: str) -> tuple[Response, int]:
    body = await _body(CreateKey)
    await _account_or_404(account_id)
    store = coordinator().store
    record, raw = await store.create_api_key(account_id, body.name)
    limits = KeyLimits(body.rpm, body.tpm)
    if limits != KeyLimits():
        await store.set_api_key_limits(record.id, limits)
    reply = {"id": record.id, "key": raw, "prefix": record.prefix, "name": record.name}
    return jsonify({**reply, "rpm": limits.rpm, "tpm": limits.tpm}), 201


@admin.put("/admin/keys/<key_id>/limits")
async def set_key_limits(key_id: str) -> Response:
    body = await _body(KeyLimitsBody)
    limits = await coordinator().store.set_api_key_limits(key_id, KeyLimits(body.rpm, body.tpm))
    announce("api_key", key_id=key_id)
    return jsonify({"id": key_id, "rpm": limits.rpm, "tpm": limits.tpm})


@admin.get("/admin/keys/<key_id>/limits")
async def get_key_limits(key_id: str) -> Response:
    limits = await coordinator().store.get_api_key_limits(key_id)
    return jsonify({"id": key_id, "rpm": limits.rpm, "tpm": limits.tpm})


@admin.get("/admin/accounts/<account_id>/keys")
async def list_keys(account_id: str) -> Response:
    await _account_or_404(account_id)
    keys = await coordinator().store.list_api_keys(account_id)
    return jsonify(
        {
            "keys": [
                {"id": k.id, "name": k.name, "prefix": k.prefix, "revoked": k.revoked} for k in keys
            ]
        }
    )


@admin.delete("/admin/keys/<key_id>")
async def revoke_key(key_id: str) -> Response:
    record = await coordinator().store.revoke_api_key(key_id)
    announce("api_key", key_id=record.id)
    return jsonify({"id": record.id, "revoked": True})


@admin.post("/admin/accounts/<account_id>/credit")
async def credit_account(account_id: str) -> Response:
    body = await _body(CreditAccount)
    if body.amount_micro_usd == 0:
        raise invalid_request("amount_micro_usd must not be zero.", param="amount_micro_usd")
    try:
        await coordinator().store.credit(
            account_id, body.amount_micro_usd, kind="adjustment", reason=body.reason
        )
    except UnknownAccount:
        raise not_found(f"No account {account_id!r}.", ApiErrorCode.ACCOUNT_NOT_FOUND) from None
    account = await _account_or_404(account_id)
    return jsonify(_account_json(account))


@admin.post("/admin/provider-tokens")
async def create_provider_token() -> tuple[Response, int]:
    body = await _body(CreateProviderToken)
    await _account_or_404(body.account_id)
    record, raw = await coordinator().store.create_provider_token(body.account_id, body.name)
    return jsonify({"id": record.id, "token": raw, "prefix": record.prefix}), 201


@admin.delete("/admin/provider-tokens/<token_id>")
async def revoke_provider_token(token_id: str) -> Response:
    """Revoke a provider token and close every live connection made with it (4015),
    on every replica of a cluster (`replicas_unanswered` names those that did not answer).

    Revoking an already revoked token is a no-op that closes nothing new; a connection
    still registering when the token is revoked closes itself (see `provider_ws`).
    """
    record = await coordinator().store.revoke_provider_token(token_id)
    closed = await provider_reach().disconnect_token(record.id)
    body: dict[str, Any] = {"id": record.id, "revoked": True, "disconnected": closed.disconnected}
    if closed.unanswered is not None:
        body["replicas_unanswered"] = closed.unanswered
    return jsonify(body)


@admin.put("/admin/pricing/<path:model>")
async def set_pricing(model: str) -> Response:
    body = await _body(SetPricing)
    pricing = await coordinator().store.set_pricing(
        model,
        body.input_micro_usd_per_mtok,
        body.output_micro_usd_per_mtok,
        context_length=body.context_length,
    )
    announce("pricing", model=pricing.model)
    return jsonify(_pricing_json(pricing))


@admin.get("/admin/pricing")
async def list_pricing() -> Response:
    prices = await coordinator().store.list_pricing()
    return jsonify({"pricing": [_pricing_json(p) for p in prices]})


@admin.get("/admin/pricing/<path:model>")
async def get_pricing(model: str) -> Response:
    pricing = await coordinator().store.get_pricing(model)
    if pricing is None:
        message = f"No price is set for model {model!r} (a model without one is free)."
        raise not_found(message, ApiErrorCode.MODEL_NOT_FOUND)
    return jsonify(_pricing_json(pricing))


def _pricing_json(pricing: Pricing) -> dict[str, Any]:
    return {
        "model": pricing.model,
        "input_micro_usd_per_mtok": pricing.input_micro_usd_per_mtok,
        "output_micro_usd_per_mtok": pricing.output_micro_usd_per_mtok,
        "context_length": pricing.context_length,
    }


@admin.get("/admin/providers")
async def list_providers() -> Response:
    """The providers connected here; in a cluster those of every live replica, each with
    its `replica`, and `replicas_unanswered` for replicas that did not answer in time."""
    coord = coordinator()
    providers = local_providers(coord.system)
    others = await ask_others("providers")
    if others is None:
        return jsonify({"providers": providers})
    for provider in providers:
        provider["replica"] = coord.replica_id
    for replica, answer in sorted(others.answers.items()):
        for provider in answer.get("providers", []):
            if isinstance(provider, dict):
                providers.append({**provider, "replica": replica})
    return jsonify({"providers": providers, "replicas_unanswered": others.unanswered})


@admin.post("/admin/providers/<provider_id>/drain")
async def drain_provider(provider_id: str) -> Response:
    """Drain the provider on whichever replica holds its connection (404 if none does)."""
    replica = _replica_or_404(provider_id, await provider_reach().drain(provider_id))
    return jsonify({"id": provider_id, "status": ProviderStatus.DRAINING, **replica})


@admin.post("/admin/providers/<provider_id>/disconnect")
async def disconnect_provider(provider_id: str) -> Response:
    """Close the provider's socket now; its in-flight requests end as `provider_gone`.

    The agent may reconnect (the close is not fatal to it); drain is the gentle way out.
    Like drain, it reaches the replica that holds the connection.
    """
    reached = await provider_reach().disconnect(provider_id, ADMIN_DISCONNECT)
    replica = _replica_or_404(provider_id, reached)
    return jsonify({"id": provider_id, "status": "disconnected", **replica})


def _replica_or_404(provider_id: str, reached: Reached) -> dict[str, str]:
    """`{"replica": id}` of the replica that took the command (`{}` without a cluster);
    404 if no replica holds the provider's connection."""
    if reached.found:
        return {} if reached.replica is None else {"replica": reached.replica}
    silent = reached.unanswered
    note = f" (replicas not answering: {', '.join(silent)})" if silent else ""
    raise not_found(f"Provider {provider_id!r} is not connected{note}.")
