"""Provider pages: `/dashboard/providers` (nodes, earnings chart, payouts, leaderboard
choice; drain, disconnect, revoke) and `/dashboard/device` (approve a `switchyard provider
login`). Data and rules come from `selfservice.nodes`, `views` and `device`, the JSON
API's own functions; these routes only parse forms and render.

The device page is where the agent's `verification_uri` points: `?user_code=` (from
`verification_uri_complete`) fills the code in; the owner confirms what it links (the
agent's name and code) before approving. A wrong or expired code is shown in the page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from quart import Response, redirect, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ..protocol.errors import ApiError
from ..selfservice import device, nodes, views
from .cluster_reach import provider_reach
from .context import coordinator
from .dashboard_pages import dashboard, form_fields, notice_for, render_page
from .dashboard_session import signed_in_page, signed_in_principal
from .svg_chart import Chart, format_micro_usd, last_days, render_chart, series_by_day

EARNINGS_DAYS = 30
NODE_ACTIONS = ("drain", "disconnect", "revoke", "listed", "unlisted")
MAX_USER_CODE_CHARS = 32


def earnings_chart(report: dict[str, Any], days: tuple[date, ...]) -> Chart:
    """Earnings per day, one line per node, from a `views.earnings_view` report."""
    rows = (
        (date.fromisoformat(r["day"]), r["provider_id"], r["earnings_micro_usd"])
        for r in report["days"]
    )
    return Chart(
        "earnings",
        "Earnings per day",
        f"Earnings in US dollars per day and node, {days[0]} to {days[-1]}.",
        days,
        series_by_day(rows, days),
        format_micro_usd,
    )


def _node_row(node: dict[str, Any]) -> dict[str, Any]:
    """A `nodes.nodes_view` entry with its slots summed for the table."""
    models = node["models"]
    return {
        **node,
        "model_ids": [m["id"] for m in models],
        "slots": sum(m["slots"] for m in models),
        "slots_in_use": sum(m["in_use"] for m in models),
    }


async def _providers_page(account_id: str, *, status: int = 200, error: str = "") -> Response:
    coord = coordinator()
    store = coord.store
    listed = [_node_row(n) for n in await nodes.nodes_view(store, provider_reach(), account_id)]
    days = views.day_range({"days": str(EARNINGS_DAYS)})
    report = await views.earnings_view(store, account_id, days)
    balance = await views.balance_view(store, account_id)
    return await render_page(
        "providers.html",
        status=status,
        title="Providers",
        nodes=listed,
        window_days=nodes.NODE_WINDOW_DAYS,
        online=sum(1 for n in listed if n["status"] == "online"),
        chart=render_chart(earnings_chart(report, last_days(days.last, EARNINGS_DAYS))),
        days=EARNINGS_DAYS,
        payouts=list(reversed(await views.payouts_view(store, account_id))),
        earnings_micro_usd=balance["earnings_micro_usd"],
        coordinator_url=request.host_url.rstrip("/"),
        error=error or None,
        notice=notice_for(request.args.get("done")),
    )


@dashboard.get("/providers")
@signed_in_page
async def providers() -> Response:
    principal = await signed_in_principal()
    return await _providers_page(principal.account_id)


@dashboard.post("/providers/<node_id>/<action>")
@signed_in_page
async def node_action(node_id: str, action: str) -> Response | WerkzeugResponse:
    if action not in NODE_ACTIONS:
        raise NotFound()
    principal = await signed_in_principal()
    coord = coordinator()
    store, reach, account_id = coord.store, provider_reach(), principal.account_id
    try:
        if action == "drain":
            await nodes.drain_node(store, reach, account_id, node_id)
        elif action == "disconnect":
            await nodes.disconnect_node(store, reach, account_id, node_id)
        elif action == "revoke":
            await nodes.revoke_node(store, reach, account_id, node_id)
        else:
            await nodes.set_leaderboard(store, account_id, node_id, action == "listed")
    except ApiError as exc:
        return await _providers_page(account_id, status=exc.status, error=exc.message)
    return redirect(url_for("dashboard.providers", done=action), 303)


async def _device_page(
    *,
    status: int = 200,
    user_code: str = "",
    pending: dict[str, Any] | None = None,
    approved: dict[str, Any] | None = None,
    error: str = "",
) -> Response:
    return await render_page(
        "device.html",
        status=status,
        title="Link a provider machine",
        user_code=user_code,
        pending=pending,
        approved=approved,
        coordinator_url=request.host_url.rstrip("/"),
        error=error or None,
    )


@dashboard.get("/device")
@signed_in_page
async def device_page() -> Response:
    user_code = request.args.get("user_code", "")[:MAX_USER_CODE_CHARS]
    if not user_code:
        return await _device_page()
    principal = await signed_in_principal()
    coord = coordinator()
    try:
        pending = await device.describe(
            coord.selfservice, coord.store, principal.account_id, user_code
        )
    except ApiError as exc:
        return await _device_page(status=exc.status, user_code=user_code, error=exc.message)
    return await _device_page(user_code=user_code, pending=pending)


@dashboard.post("/device")
@signed_in_page
async def device_decision() -> Response:
    principal = await signed_in_principal()
    form = await form_fields()
    user_code = form.get("user_code", "")[:MAX_USER_CODE_CHARS]
    decision = form.get("decision", "")
    coord = coordinator()
    try:
        if decision not in ("approve", "deny"):  # the code was typed: show what it links
            pending = await device.describe(
                coord.selfservice, coord.store, principal.account_id, user_code
            )
            return await _device_page(user_code=user_code, pending=pending)
        decided = await device.decide(
            coord.selfservice, coord.store, principal.account_id, user_code, decision == "approve"
        )
    except ApiError as exc:
        return await _device_page(status=exc.status, user_code=user_code, error=exc.message)
    return await _device_page(approved=decided)
