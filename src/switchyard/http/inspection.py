"""Supervisor inspection: `GET /admin/supervisor` and its HTML view `GET /admin`.

The tree it shows is described in docs/ARCHITECTURE.md, "Supervision".

`/admin/supervisor` returns the live actor tree (`system.snapshot()`) with its totals
extended by the scheduler's view: `reserved_slots` and `queued`, plus per-model
`reserved_by_model` and `queued_by_model`. The scheduler is asked with a short timeout;
when it does not answer, those four are `null` and the tree is still returned. In a
cluster the tree is this replica's, `totals` are summed over every live replica that
answered within 1 s (`replica_totals` has each one's, `replicas_unanswered` the others).

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
from typing import TYPE_CHECKING

from quart import Blueprint, Response, jsonify, request

from ..actors.local_admin import local_totals, merge_totals
from .admin_auth import require_admin_key
from .cluster_reach import ask_others
from .context import coordinator

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

inspection = Blueprint("inspection", __name__)

NONCE_PLACEHOLDER = "__CSP_NONCE__"
_PAGE_ENDPOINT = "inspection.page"


@inspection.before_request
async def _require_admin_key() -> None:
    require_admin_key(allow_query=request.endpoint == _PAGE_ENDPOINT)


@inspection.get("/admin/supervisor")
async def supervisor() -> Response:
    coord = coordinator()
    snapshot = coord.system.snapshot()
    snapshot["totals"] = await local_totals(coord.system)
    others = await ask_others("totals")
    if others is not None:
        parts = {coord.replica_id: snapshot["totals"]}
        for replica, answer in others.answers.items():
            if isinstance(answer.get("totals"), dict):
                parts[replica] = answer["totals"]
        snapshot["replica_totals"] = parts
        snapshot["totals"] = merge_totals(list(parts.values()))
        snapshot["replicas_unanswered"] = others.unanswered
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
