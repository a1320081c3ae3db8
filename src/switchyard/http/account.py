"""`GET /v1/account`: the calling key's account — balance, open holds, recent usage."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from ..protocol.errors import authentication_failed
from .context import authenticate, coordinator

account = Blueprint("account", __name__)


@account.get("/v1/account")
async def show_account() -> Response:
    key = await authenticate()
    store = coordinator().store
    open_holds = await store.count_open_holds(key.account_id)  # before the balance: see admin
    record = await store.get_account(key.account_id)
    if record is None:  # the key outlived its account: treat as unauthenticated
        raise authentication_failed()
    try:
        limit = min(200, max(1, int(request.args.get("limit", "20"))))
    except ValueError:
        limit = 20
    usage = await store.recent_usage(key.account_id, limit)
    return jsonify(
        {
            "id": record.id,
            "name": record.name,
            "balance_micro_usd": record.balance_micro_usd,
            "earnings_micro_usd": record.earnings_micro_usd,
            "open_holds": open_holds,
            "usage": [
                {
                    "request_id": u.request_id,
                    "model": u.model,
                    "provider_id": u.provider_id,
                    "prompt_tokens": u.prompt_tokens,
                    "completion_tokens": u.completion_tokens,
                    "cost_micro_usd": u.cost_micro_usd,
                    "ttft_ms": u.ttft_ms,
                    "duration_ms": u.duration_ms,
                    "outcome": u.outcome,
                    "created_at": u.created_at.isoformat(),
                }
                for u in usage
            ],
        }
    )
