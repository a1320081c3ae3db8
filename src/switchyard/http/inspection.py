"""Supervisor inspection: `GET /admin/supervisor` and its HTML view `GET /admin`.

The tree it shows is described in docs/ARCHITECTURE.md, "Supervision".

`/admin/supervisor` returns the live actor tree (`system.snapshot()`) with its totals
extended by the scheduler's view: `reserved_slots` and `queued`, plus per-model
`reserved_by_model` and `queued_by_model`. The scheduler is asked with a short timeout;
when it does not answer, those four are `null` and the tree is still returned.

`/admin` serves `static/admin.html`, a self-contained page (inline CSS and JS, no CDN)
that polls `/admin/supervisor` and `/admin/providers` every 2 s. Both routes need the
admin key; `/admin` alone also accepts it as `?key=` (a browser cannot send a header
when it navigates) and the page then sends it as a Bearer header on its own requests.
The page is served with a nonce-based Content-Security-Policy, `no-referrer` (the key in
its URL never leaks to other sites) and `no-store`.
"""

from __future__ import annotations

import logging
import secrets
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, jsonify, request

from ..actors.scheduler_messages import SchedulerStats
from ..runtime import ActorStopped, AskTimeout
from .admin_auth import require_admin_key
from .context import coordinator

if TYPE_CHECKING:
    from ..coordinator import Coordinator

log = logging.getLogger(__name__)

inspection = Blueprint("inspection", __name__)

STATS_TIMEOUT_S = 1.0  # how long the inspection endpoint waits for the scheduler
NONCE_PLACEHOLDER = "__CSP_NONCE__"
_PAGE_ENDPOINT = "inspection.page"


@inspection.before_request
async def _require_admin_key() -> None:
    require_admin_key(allow_query=request.endpoint == _PAGE_ENDPOINT)


async def scheduler_totals(coord: Coordinator) -> dict[str, Any]:
    """Reserved and queued counts from the scheduler, or `None` values if it is not answering."""
    try:
        stats = await coord.scheduler.ask(SchedulerStats(), timeout=STATS_TIMEOUT_S)
    except (AskTimeout, ActorStopped, LookupError) as exc:
        log.warning("inspection: scheduler did not answer (%s)", type(exc).__name__)
        return {
            "reserved_slots": None,
            "queued": None,
            "reserved_by_model": None,
            "queued_by_model": None,
        }
    return {
        "reserved_slots": stats["reserved_total"],
        "queued": stats["queued_total"],
        "reserved_by_model": stats["reserved_by_model"],
        "queued_by_model": stats["queued_by_model"],
    }


@inspection.get("/admin/supervisor")
async def supervisor() -> Response:
    coord = coordinator()
    scheduler = await scheduler_totals(coord)
    snapshot = coord.system.snapshot()
    snapshot["totals"].update(scheduler)
    return jsonify(snapshot)


@cache
def _page_template() -> str:
    return files("switchyard.http").joinpath("static/admin.html").read_text(encoding="utf-8")


@inspection.get("/admin")
async def page() -> Response:
    nonce = secrets.token_urlsafe(16)
    html = _page_template().replace(NONCE_PLACEHOLDER, nonce)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
