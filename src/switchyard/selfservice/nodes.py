"""A provider owner's nodes: what each is doing, and drain / disconnect / revoke.

A node is a provider id the account owns (`providers.owner_account_id`). Its live part
(status, trust, models and slots, requests in flight, upstream health, challenges) comes
from its provider actor when connected; its history (served tokens, errors, earnings over
the last `NODE_WINDOW_DAYS` days) from the store. A node of another account is answered
like a missing one: 404 (the owner check is the store's, before anything live is touched).

Live states and the commands go through the admin API's seam (`cluster/provider_reach`,
given by the http layer): in a cluster a node connected to another replica is seen and
commanded like a local one; alone, only this process's actors are asked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..cluster.provider_reach import Closed, ProviderReach, Reached
from ..protocol.errors import ApiError, conflict, not_found
from ..protocol.vocabulary import ProviderStatus
from ..storage.models import ProviderRecord, utc_now
from ..storage.protocol import Store
from .views import DayRange, earnings_rows, node_totals

NODE_WINDOW_DAYS = 30
OFFLINE = "offline"


def _missing(provider_id: str) -> ApiError:
    return not_found(f"No node {provider_id!r} in this account.")


def _not_connected(provider_id: str, reached: Reached | None = None) -> ApiError:
    silent = reached.unanswered if reached else []
    note = f" (replicas not answering: {', '.join(silent)})" if silent else ""
    return conflict(f"Node {provider_id!r} is not connected{note}.")


async def own_node(store: Store, account_id: str, provider_id: str) -> ProviderRecord:
    """The account's node (404 when absent or another account's)."""
    record = await store.get_provider(provider_id) if len(provider_id) <= 200 else None
    if record is None or record.owner_account_id != account_id:
        raise _missing(provider_id)
    return record


def _node_json(
    record: ProviderRecord, live: dict[str, Any] | None, history: dict[str, int], listed: bool
) -> dict[str, Any]:
    return {
        "id": record.id,
        "status": live.get("status", OFFLINE) if live else OFFLINE,
        "connected": live is not None,
        "trust": live.get("trust", record.trust) if live else record.trust,
        "routable": bool(live and live.get("routable")),
        "models": live.get("models", []) if live else [],
        "inflight": live.get("inflight", 0) if live else 0,
        "served_since_connect": live.get("served", 0) if live else 0,
        "upstream": live.get("upstream") if live else None,
        "challenges": live.get("challenges") if live else None,
        "created_at": record.created_at.isoformat(),
        "last_seen_at": record.last_seen_at.isoformat(),
        "window_days": NODE_WINDOW_DAYS,
        "served_tokens": history.get("tokens", 0),
        "requests": history.get("requests", 0),
        "errors": history.get("errors", 0),
        "earnings_micro_usd": history.get("earnings_micro_usd", 0),
        "leaderboard": listed,
    }


async def nodes_view(store: Store, reach: ProviderReach, account_id: str) -> list[dict[str, Any]]:
    """Every node of the account, oldest first, live state and recent history."""
    records = await store.providers_of(account_id)
    today = utc_now().date()
    window = DayRange(today - timedelta(days=NODE_WINDOW_DAYS - 1), today)
    totals = node_totals(await earnings_rows(store, account_id, window)) if records else {}
    listed = await store.listed_providers([r.id for r in records])
    live = await reach.live_states([r.id for r in records]) if records else {}
    return [_node_json(r, live.get(r.id), totals.get(r.id, {}), r.id in listed) for r in records]


def _closed_json(closed: Closed) -> dict[str, Any]:
    extra = {} if closed.unanswered is None else {"replicas_unanswered": closed.unanswered}
    return {"disconnected": closed.disconnected, **extra}


async def drain_node(store: Store, reach: ProviderReach, account_id: str, node: str) -> dict:
    """Let the node finish its requests and take no more (409 if not connected anywhere)."""
    await own_node(store, account_id, node)
    reached = await reach.drain(node)
    if not reached.found:
        raise _not_connected(node, reached)
    return {"id": node, "status": ProviderStatus.DRAINING.value}


async def disconnect_node(store: Store, reach: ProviderReach, account_id: str, node: str) -> dict:
    """Close the node's socket now; its agent may reconnect (409 if not connected anywhere)."""
    await own_node(store, account_id, node)
    reached = await reach.disconnect(node, "disconnected by its owner")
    if not reached.found:
        raise _not_connected(node, reached)
    return {"id": node, "status": "disconnected"}


async def revoke_node(store: Store, reach: ProviderReach, account_id: str, node: str) -> dict:
    """Revoke the provider token the connected node uses and close every connection made
    with it, on every replica (4015: the agent stops). A node not connected: 409 (revoke
    its token from the account's provider tokens instead)."""
    await own_node(store, account_id, node)
    live = (await reach.live_states([node])).get(node)
    token_id = live.get("token_id") if live else None
    if not isinstance(token_id, str):
        raise conflict(
            f"Node {node!r} is not connected; revoke its token under "
            "/v1/account/provider-tokens instead."
        )
    record = await store.revoke_provider_token(token_id)
    closed = await reach.disconnect_token(record.id)
    return {"id": node, "token_id": record.id, "revoked": True, **_closed_json(closed)}


async def set_leaderboard(store: Store, account_id: str, node: str, listed: bool) -> dict:
    """Opt the node in or out of the public leaderboard."""
    await own_node(store, account_id, node)
    await store.set_leaderboard_listing(node, listed)
    return {"id": node, "leaderboard": listed}


def token_json(record: Any) -> dict[str, Any]:
    """A provider token as the owner sees it (never the secret after creation)."""
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "created_at": record.created_at.isoformat(),
        "last_used_at": None if record.last_used_at is None else record.last_used_at.isoformat(),
        "revoked": record.revoked,
    }


async def revoke_own_token(
    store: Store, reach: ProviderReach, account_id: str, token_id: str
) -> dict:
    """Revoke one of the account's provider tokens and disconnect its holders everywhere."""
    if not any(t.id == token_id for t in await store.list_provider_tokens(account_id)):
        raise not_found(f"No provider token {token_id!r} in this account.")
    record = await store.revoke_provider_token(token_id)
    closed = await reach.disconnect_token(record.id)
    return {**token_json(record), **_closed_json(closed)}
