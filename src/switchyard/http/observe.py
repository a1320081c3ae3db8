"""Per-request counting: every HTTP response is counted by route, model and status."""

from __future__ import annotations

from quart import Quart, Response, g, request

from ..metrics import REQUESTS


def install_request_metrics(app: Quart) -> None:
    """Count each response under its route pattern (not its raw path: bounded labels)."""

    @app.after_request
    async def _count(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if rule.startswith("/v1/") and rule != "/v1/providers/connect":
            REQUESTS.labels(rule, g.get("model", "-"), str(response.status_code)).inc()
        return response
