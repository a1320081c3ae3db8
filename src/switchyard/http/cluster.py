"""`GET /admin/cluster`: the replicas this replica knows of, and its NATS link.

Without cluster mode the answer is this one replica, always live, and `"cluster": null`.
Each replica: `id`, `self`, `url` (its HTTP base URL as it bound it), `live`,
`started_at` and `last_seen` (unix seconds), and `info` (what it publishes in its
heartbeats: `providers`, the number of provider connections it holds, and whatever
other modules add). Lapsed replicas stay listed with `live: false` for ten minutes.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from quart import Blueprint, Response, jsonify

from ..actors.provider_messages import PROVIDERS_PATH
from .admin_auth import require_admin_key
from .context import coordinator

cluster = Blueprint("cluster", __name__)


@cluster.before_request
async def _require_admin_key() -> None:
    require_admin_key()


@cluster.get("/admin/cluster")
async def show_cluster() -> Response:
    coord = coordinator()
    if coord.cluster is None:
        now = time.time()
        me = {
            "id": coord.replica_id,
            "self": True,
            "url": None,
            "live": True,
            "started_at": None,
            "last_seen": now,
            "info": {"providers": len(coord.system.children_refs(PROVIDERS_PATH))},
        }
        return jsonify({"cluster": None, "replica_id": coord.replica_id, "nats": None,
                        "replicas": [me]})  # fmt: skip
    membership = coord.cluster.membership
    transport = coord.cluster.transport
    nats: dict[str, Any] = {"connected": transport.connected, **asdict(transport.stats)}
    replicas = [r.as_json(coord.replica_id) for r in membership.replicas()]
    return jsonify(
        {
            "cluster": coord.cluster.name,
            "replica_id": coord.replica_id,
            "nats": nats,
            "replicas": replicas,
        }
    )
