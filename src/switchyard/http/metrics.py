"""`GET /metrics`: Prometheus text format; actor state is sampled at scrape time.

With `SWITCHYARD_METRICS_TOKEN` set, a scrape needs `Authorization: Bearer <token>` (401
otherwise); without it the endpoint is open, as it always was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response, request

from ..actors.provider_messages import PROVIDERS_PATH
from ..actors.scheduler_messages import SchedulerStats
from ..metrics import REGISTRY, SAMPLED, Sample
from ..protocol.errors import authentication_failed
from ..protocol.vocabulary import ApiErrorCode
from ..runtime import ActorStopped, AskTimeout
from .admin_auth import secret_matches
from .context import bearer_token, coordinator

if TYPE_CHECKING:
    from ..coordinator import Coordinator

metrics = Blueprint("metrics", __name__)


def _flatten(node: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [node]
    for child in node["children"]:
        nodes.extend(_flatten(child))
    return nodes


@metrics.get("/metrics")
async def scrape() -> Response:
    coord = coordinator()
    token = coord.settings.metrics_token
    if token and not secret_matches(bearer_token(request.headers), token):
        raise authentication_failed(
            "Missing or invalid metrics token.", ApiErrorCode.INVALID_METRICS_TOKEN
        )
    try:
        scheduler = await coord.scheduler.ask(SchedulerStats(), timeout=2)
    except (AskTimeout, ActorStopped, LookupError):
        scheduler = {}
    snapshot = coord.system.snapshot()
    SAMPLED.sample = Sample(
        scheduler=scheduler,
        providers=coord.system.children_states(PROVIDERS_PATH),
        actors=_flatten(snapshot["tree"]),
        dead_letters=snapshot["totals"]["dead_letters"],
        cluster=None if coord.state is None else cluster_sample(coord),
    )
    body = generate_latest(REGISTRY)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def cluster_sample(coord: Coordinator) -> dict[str, float]:
    """The cluster figures `metrics._cluster_families` exports."""
    assert coord.cluster is not None and coord.state is not None
    stats = coord.state.limiter.stats
    throttles = coord.state.throttles.stats
    return {
        "nats_connected": float(coord.cluster.transport.connected),
        "live_replicas": float(len(coord.cluster.membership.live_replicas())),
        "ratelimit_admitted": float(stats.admitted),
        "ratelimit_refused": float(stats.refused),
        "ratelimit_contended": float(stats.contended),
        "ratelimit_fallback": float(stats.fallbacks),
        "ratelimit_conflicts": float(stats.conflicts),
        "throttle_counted": float(throttles.counted),
        "throttle_refused": float(throttles.refused),
        "throttle_contended": float(throttles.contended),
        "throttle_fallback": float(throttles.fallbacks),
        "throttle_conflicts": float(throttles.conflicts),
    }
