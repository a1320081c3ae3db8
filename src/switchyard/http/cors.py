"""CORS for browser clients of the consumer API (`SWITCHYARD_CORS_ORIGINS`; none by default).

For an allowed `Origin` (listed exactly, or `*` for any), every `/v1/...` route a browser
may call — not the provider socket, not the Stripe webhook, not the admin API — answers a
preflight (`OPTIONS` with `Access-Control-Request-Method`) with 204 and the CORS headers,
and adds `Access-Control-Allow-Origin` to its responses, errors included, so the page can
read them. Credentials are bearer tokens in headers, never cookies, so the requested
headers are allowed as asked and `Access-Control-Allow-Credentials` is never sent.
"""

from __future__ import annotations

from quart import Quart, Response, request

NOT_FOR_BROWSERS = frozenset({"/v1/providers/connect", "/v1/billing/webhook"})
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"  # DELETE: /v1/responses/{id}
EXPOSE_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE_S = 600


def _is_browser_route(path: str) -> bool:
    return path.startswith("/v1/") and path not in NOT_FOR_BROWSERS


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def install_cors(app: Quart, origins: tuple[str, ...]) -> None:
    """Answer preflights and add CORS headers for `origins` (nothing at all when empty)."""
    if not origins:
        return
    allowed = frozenset(origins)
    any_origin = "*" in allowed

    def allowed_origin() -> str | None:
        """The `Access-Control-Allow-Origin` value for this request, if any."""
        origin = request.headers.get("Origin")
        if origin is None or not _is_browser_route(request.path):
            return None
        if any_origin:
            return "*"
        return origin if origin in allowed else None

    @app.before_request
    async def _preflight() -> Response | None:
        if _is_preflight() and request.url_rule is not None and allowed_origin() is not None:
            return app.response_class("", status=204)
        return None

    @app.after_request
    async def _cors_headers(response: Response) -> Response:
        value = allowed_origin()
        if value is None:
            return response
        headers = response.headers
        headers["Access-Control-Allow-Origin"] = value
        response.vary.add("Origin")
        if _is_preflight():
            headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                headers["Access-Control-Allow-Headers"] = requested
            headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
        else:
            headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response
