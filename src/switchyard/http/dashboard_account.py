"""Account settings page: `/dashboard/account`, where a signed-in account changes its
passphrase (`POST /dashboard/account/password`).

The form calls `selfservice.accounts.change_password`, the JSON API's own function: the
current passphrase is checked by the login failure throttle, the new one by the sign-up
rules, and every other session of the account ends (this browser stays signed in). A
change redirects back (303) with a fixed notice; a refused one shows the page again with
the message and the 4xx status (and `Retry-After` when throttled), never echoing a
passphrase.
"""

from __future__ import annotations

from quart import Response, redirect, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ..protocol.errors import ApiError, validate_body
from ..protocol.limits import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from ..protocol.selfservice_api import ChangePassword
from ..selfservice import accounts
from .context import coordinator
from .dashboard_pages import dashboard, form_fields, notice_for, render_page
from .dashboard_session import signed_in_page, signed_in_principal


async def _account_page(exc: ApiError | None = None) -> Response:
    principal = await signed_in_principal()
    login = await coordinator().store.get_login_of(principal.account_id)
    response = await render_page(
        "account.html",
        status=exc.status if exc else 200,
        title="Account",
        login=None if login is None else login.login,
        min_passphrase=MIN_PASSWORD_CHARS,
        max_passphrase=MAX_PASSWORD_CHARS,
        error=exc.message if exc else None,
        notice=notice_for(request.args.get("done")),
    )
    if exc is not None:
        response.headers.update(exc.headers())
    return response


@dashboard.get("/account")
@signed_in_page
async def account() -> Response:
    return await _account_page()


@dashboard.post("/account/password")
@signed_in_page
async def change_password() -> Response | WerkzeugResponse:
    principal = await signed_in_principal()
    form = await form_fields()
    coord = coordinator()
    try:
        fields = ("current_password", "new_password")
        body = validate_body({name: form.get(name, "") for name in fields}, ChangePassword)
        await accounts.change_password(
            coord.selfservice,
            coord.store,
            session=principal.session,
            current_password=body.current_password,
            new_password=body.new_password,
        )
    except ApiError as exc:
        return await _account_page(exc)
    return redirect(url_for("dashboard.account", done="password"), 303)
