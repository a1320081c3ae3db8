"""`GET /metrics`: Prometheus text format; actor state is sampled at scrape time."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response

from ..actors.provider_messages import PROVIDERS_PATH
from ..actors.scheduler_messages import SchedulerStats
from ..metrics import REGISTRY, SAMPLED, Sample
from ..runtime import ActorStopped, AskTimeout
from .context import coordinator

metrics = Blueprint("metrics", __name__)


def _flatten(node: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [node]
    for child in node["children"]:
        nodes.extend(_flatten(child))
    return nodes


@metrics.get("/metrics")
async def scrape() -> Response:
    coord = coordinator()
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
    )
    body = generate_latest(REGISTRY)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
