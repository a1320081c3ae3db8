"""Model listing and model info: `GET /v1/models` and `GET /v1/models/{id}`.

Both answer in OpenAI's shape (`object: "model"`, plus what Switchyard knows: providers
online, free slots, context length, capabilities, pricing), or — when the request
carries an `anthropic-version` header, as the Anthropic SDK's always does — in
Anthropic's (`type: "model"`, `id`, `display_name`, `created_at`; the list paged with
`has_more`, `first_id`, `last_id`, `limit` 1..1000 (default 20), `after_id`,
`before_id`). A model is known when a provider online serves it or it has a price;
`GET /v1/models/{id}` of any other is 404 `model_not_found`. The list holds the models
served online, as before.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from ..actors.scheduler_messages import ModelProfile, ModelsQuery
from ..protocol.errors import invalid_request, model_not_found
from ..protocol.limits import MAX_MODEL_ID_CHARS
from ..storage.models import Pricing
from .context import authenticate, coordinator

models = Blueprint("models", __name__)

ANTHROPIC_VERSION = "anthropic-version"
#: Anthropic's `created_at` for models that have no creation date here.
EPOCH = "1970-01-01T00:00:00Z"
MAX_PAGE = 1000
DEFAULT_PAGE = 20


async def _served() -> dict[str, dict[str, Any]]:
    served: dict[str, dict[str, Any]] = await coordinator().scheduler.ask(
        ModelsQuery(profiles=True)
    )
    return served


def _openai_entry(model_id: str, info: dict[str, Any] | None, price: Pricing | None) -> dict:
    entry: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": "switchyard",
        "providers": (info or {}).get("providers_online", 0),
        "slots_free": (info or {}).get("slots_free", 0),
    }
    profile: ModelProfile | None = (info or {}).get("profile")
    context = (profile.context_length if profile is not None else None) or (
        price.context_length if price is not None else None
    )
    if context:
        entry["context_length"] = context
    caps = profile.capabilities if profile is not None else {}
    entry["capabilities"] = {c.value: s.value for c, s in caps.items()}
    if price is not None:
        entry["pricing"] = {
            "input_micro_usd_per_mtok": price.input_micro_usd_per_mtok,
            "output_micro_usd_per_mtok": price.output_micro_usd_per_mtok,
        }
    return entry


def _anthropic_entry(model_id: str) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": EPOCH}


def _page_size() -> int:
    raw = request.args.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid_request(f"limit must be an integer from 1 to {MAX_PAGE}.", param="limit")
    return int(raw)


def _anthropic_page(ids: list[str]) -> dict[str, Any]:
    """One page of `ids` (sorted) as Anthropic pages its model list."""
    limit = _page_size()
    after, before = request.args.get("after_id"), request.args.get("before_id")
    if before is not None:
        ids = [i for i in ids if i < before]
        page = ids[-limit:]
        has_more = len(ids) > limit
    else:
        if after is not None:
            ids = [i for i in ids if i > after]
        page = ids[:limit]
        has_more = len(ids) > limit
    return {
        "data": [_anthropic_entry(i) for i in page],
        "has_more": has_more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }


@models.get("/v1/models")
async def list_models() -> Response:
    await authenticate()
    served = await _served()
    if ANTHROPIC_VERSION in request.headers:
        return jsonify(_anthropic_page(sorted(served)))
    prices = {p.model: p for p in await coordinator().store.list_pricing()}
    data = [_openai_entry(m, served[m], prices.get(m)) for m in sorted(served)]
    return jsonify({"object": "list", "data": data})


@models.get("/v1/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    await authenticate()
    if len(model_id) > MAX_MODEL_ID_CHARS:
        raise model_not_found(model_id[:MAX_MODEL_ID_CHARS] + "…")
    served = await _served()
    price = await coordinator().store.get_pricing(model_id)
    info = served.get(model_id)
    if info is None and price is None:
        raise model_not_found(model_id)
    if ANTHROPIC_VERSION in request.headers:
        return jsonify(_anthropic_entry(model_id))
    return jsonify(_openai_entry(model_id, info, price))
