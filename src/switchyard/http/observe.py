"""Per-request counting: every HTTP response is counted by route, model and status.

Labels stay bounded: the route pattern, never the raw path; the model only when the
coordinator knows it (priced or served), else `other` (see `inference.known_models`).
"""

from __future__ import annotations

from quart import Quart, Response, g, request

from ..metrics import REQUESTS
from .context import coordinator


def install_request_metrics(app: Quart) -> None:
    """Count each response under its route pattern (not its raw path: bounded labels)."""

    @app.after_request
    async def _count(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if rule.startswith("/v1/") and rule != "/v1/providers/connect":
            model = await coordinator().models.label(g.get("model"))
            REQUESTS.labels(rule, model, str(response.status_code)).inc()
        return response
