"""`GET /v1/stats`: public network stats and the opt-in provider leaderboard (no
credentials; cached a few seconds, see `selfservice/stats.py`)."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from .cluster_reach import provider_reach
from .context import coordinator

stats = Blueprint("stats", __name__)


@stats.get("/v1/stats")
async def public_stats() -> Response:
    coord = coordinator()
    answer = await coord.selfservice.stats.get(coord.store, provider_reach())
    response = jsonify(answer)
    response.headers["Cache-Control"] = "public, max-age=5"
    return response
