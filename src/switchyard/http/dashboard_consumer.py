"""Consumer pages: `/dashboard/` (overview), `/dashboard/keys`, `/dashboard/usage`,
`/dashboard/billing`. Data and rules come from `selfservice.views` and `selfservice.keys`
(the JSON API's own functions); these routes only parse forms and render.

- Creating a key renders the keys page with the raw key, once; it is never stored or
  shown again. Renaming, limits and revocation redirect back (303) with a fixed notice.
- Buying credit redirects (303) to the Stripe Checkout page; Stripe sends the buyer back
  to `/dashboard/billing` unless `checkout_success_url` / `checkout_cancel_url` are set.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from quart import Response, redirect, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ..protocol.billing_api import CheckoutRequest
from ..protocol.errors import ApiError, invalid_request, validate_body
from ..protocol.limits import MAX_LABEL_CHARS
from ..protocol.selfservice_api import CreateOwnKey, OwnKeyLimits, RenameKey
from ..selfservice import keys as own_keys
from ..selfservice import views
from ..storage.models import KeyLimits
from .billing import start_checkout
from .context import coordinator
from .dashboard_pages import dashboard, form_fields, notice_for, render_page
from .dashboard_session import signed_in_page, signed_in_principal
from .svg_chart import (
    Chart,
    format_micro_usd,
    format_tokens,
    last_days,
    render_chart,
    series_by_day,
)

OVERVIEW_DAYS = 14
USAGE_DAY_CHOICES = (7, 30, 90)


def usage_charts(report: dict[str, Any], days: tuple[date, ...]) -> tuple[Chart, Chart]:
    """Tokens and cost per day, one line per model, from a `views.usage_view` report."""
    rows = report["days"]
    tokens = series_by_day(
        (
            (date.fromisoformat(r["day"]), r["model"], r["prompt_tokens"] + r["completion_tokens"])
            for r in rows
        ),
        days,
    )
    cost = series_by_day(
        ((date.fromisoformat(r["day"]), r["model"], r["cost_micro_usd"]) for r in rows), days
    )
    span = f"{days[0].isoformat()} to {days[-1].isoformat()}" if days else ""
    return (
        Chart(
            "usage-tokens",
            "Tokens per day",
            f"Prompt plus completion tokens per day and model, {span}.",
            days,
            tokens,
            format_tokens,
        ),
        Chart(
            "usage-cost",
            "Spend per day",
            f"Cost in US dollars per day and model, {span}.",
            days,
            cost,
            format_micro_usd,
        ),
    )


@dashboard.get("/")
@signed_in_page
async def overview() -> Response:
    principal = await signed_in_principal()
    store = coordinator().store
    balance = await views.balance_view(store, principal.account_id)
    listed = await own_keys.list_api_keys(store, principal.account_id)
    days = views.day_range({"days": str(OVERVIEW_DAYS)})
    report = await views.usage_view(store, principal.account_id, days)
    tokens, _ = usage_charts(report, last_days(days.last, OVERVIEW_DAYS))
    return await render_page(
        "overview.html",
        title="Overview",
        overview={**balance, "active_keys": sum(1 for k in listed if not k["revoked"])},
        chart=render_chart(tokens),
        days=OVERVIEW_DAYS,
    )


async def _keys_page(
    account_id: str, *, status: int = 200, new_key: dict[str, Any] | None = None, error: str = ""
) -> Response:
    coord = coordinator()
    return await render_page(
        "keys.html",
        status=status,
        title="API keys",
        keys=await own_keys.list_api_keys(coord.store, account_id),
        account_limits=own_keys.account_limits(coord.settings),
        new_key=new_key,
        site=request.host_url.rstrip("/"),
        max_name=MAX_LABEL_CHARS,
        error=error or None,
        notice=notice_for(request.args.get("done")),
    )


def _limit(form: dict[str, str], name: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise invalid_request(f"{name} must be a whole number, or empty.", param=name)
    return int(raw)


@dashboard.get("/keys")
@signed_in_page
async def keys() -> Response:
    principal = await signed_in_principal()
    return await _keys_page(principal.account_id)


@dashboard.post("/keys")
@signed_in_page
async def create_key() -> Response:
    principal = await signed_in_principal()
    form = await form_fields()
    coord = coordinator()
    try:
        body = validate_body(
            {
                "name": form.get("name", "").strip() or "default",
                "rpm": _limit(form, "rpm"),
                "tpm": _limit(form, "tpm"),
            },
            CreateOwnKey,
        )
        created = await own_keys.create_api_key(
            coord.store,
            coord.settings,
            principal.account_id,
            body.name,
            KeyLimits(body.rpm, body.tpm),
        )
    except ApiError as exc:
        return await _keys_page(principal.account_id, status=exc.status, error=exc.message)
    return await _keys_page(principal.account_id, status=201, new_key=created)


@dashboard.post("/keys/<key_id>/name")
@signed_in_page
async def rename_key(key_id: str) -> Response | WerkzeugResponse:
    principal = await signed_in_principal()
    form = await form_fields()
    try:
        body = validate_body({"name": form.get("name", "").strip()}, RenameKey)
        await own_keys.rename_api_key(coordinator().store, principal.account_id, key_id, body.name)
    except ApiError as exc:
        return await _keys_page(principal.account_id, status=exc.status, error=exc.message)
    return redirect(url_for("dashboard.keys", done="renamed"), 303)


@dashboard.post("/keys/<key_id>/limits")
@signed_in_page
async def key_limits(key_id: str) -> Response | WerkzeugResponse:
    principal = await signed_in_principal()
    form = await form_fields()
    coord = coordinator()
    try:
        body = validate_body({"rpm": _limit(form, "rpm"), "tpm": _limit(form, "tpm")}, OwnKeyLimits)
        await own_keys.set_api_key_limits(
            coord.store, coord.settings, principal.account_id, key_id, KeyLimits(body.rpm, body.tpm)
        )
    except ApiError as exc:
        return await _keys_page(principal.account_id, status=exc.status, error=exc.message)
    return redirect(url_for("dashboard.keys", done="limits"), 303)


@dashboard.post("/keys/<key_id>/revoke")
@signed_in_page
async def revoke_key(key_id: str) -> Response | WerkzeugResponse:
    principal = await signed_in_principal()
    try:
        await own_keys.revoke_api_key(coordinator().store, principal.account_id, key_id)
    except ApiError as exc:
        return await _keys_page(principal.account_id, status=exc.status, error=exc.message)
    return redirect(url_for("dashboard.keys", done="revoked"), 303)


@dashboard.get("/usage")
@signed_in_page
async def usage() -> Response:
    principal = await signed_in_principal()
    raw = request.args.get("days", "30")
    chosen = int(raw) if raw.isdigit() and int(raw) in USAGE_DAY_CHOICES else 30
    days = views.day_range({"days": str(chosen)})
    report = await views.usage_view(coordinator().store, principal.account_id, days)
    tokens, cost = usage_charts(report, last_days(days.last, chosen))
    return await render_page(
        "usage.html",
        title="Usage",
        tokens_chart=render_chart(tokens),
        cost_chart=render_chart(cost),
        rows=list(reversed(report["days"])),  # newest day first
        days=chosen,
        day_choices=USAGE_DAY_CHOICES,
    )


async def _billing_page(account_id: str, *, status: int = 200, error: str = "") -> Response:
    coord = coordinator()
    settings = coord.settings
    balance = await views.balance_view(coord.store, account_id)
    low, high = settings.checkout_min_cents / 100, settings.checkout_max_cents / 100
    return await render_page(
        "billing.html",
        status=status,
        title="Billing",
        balance_micro_usd=balance["balance_micro_usd"],
        open_holds=balance["open_holds"],
        stripe_enabled=coord.stripe is not None,
        min_usd=f"{low:.2f}",
        max_usd=f"{high:.2f}",
        default_usd=f"{max(low, min(high, 25.0)):.2f}",
        error=error or None,
        notice=notice_for(request.args.get("done")),
    )


@dashboard.get("/billing")
@signed_in_page
async def billing() -> Response:
    principal = await signed_in_principal()
    return await _billing_page(principal.account_id)


@dashboard.post("/billing")
@signed_in_page
async def checkout() -> Response | WerkzeugResponse:
    principal = await signed_in_principal()
    form = await form_fields()
    settings = coordinator().settings
    here = request.host_url.rstrip("/") + url_for("dashboard.billing")
    try:
        raw = form.get("amount_usd", "").strip()
        try:
            amount = float(raw)
        except ValueError:
            raise invalid_request("Give an amount in US dollars.", param="amount_usd") from None
        body = validate_body({"amount_usd": amount}, CheckoutRequest)
        session = await start_checkout(
            principal.account_id,
            body,
            success_url=settings.checkout_success_url or f"{here}?done=paid",
            cancel_url=settings.checkout_cancel_url or f"{here}?done=cancelled",
        )
    except ApiError as exc:
        return await _billing_page(principal.account_id, status=exc.status, error=exc.message)
    return redirect(session["url"], 303)
