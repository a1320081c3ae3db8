"""The Quart (quart-trio) application factory: blueprints, limits, error handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart_trio import QuartTrio

from .account import account
from .admin import admin
from .billing import billing
from .cluster import cluster
from .consumer import consumer
from .cors import install_cors
from .edge import EdgeMiddleware
from .errors import install_error_handlers
from .inspection import inspection
from .metrics import metrics
from .observe import install_request_metrics
from .ops import ops
from .payouts import payouts
from .provider_ws import provider_ws

if TYPE_CHECKING:
    from ..coordinator import Coordinator


def create_app(coord: Coordinator) -> QuartTrio:
    """An app serving `coord`; it keeps only a reference to it, no routing state."""
    app = QuartTrio("switchyard")
    app.config["SWITCHYARD_COORDINATOR"] = coord
    app.config["MAX_CONTENT_LENGTH"] = coord.settings.max_body_bytes
    app.config["RESPONSE_TIMEOUT"] = coord.settings.request_timeout_s + 30
    app.config["BODY_TIMEOUT"] = 60
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for blueprint in (
        ops,
        metrics,
        admin,
        inspection,
        cluster,
        payouts,
        consumer,
        account,
        billing,
        provider_ws,
    ):
        app.register_blueprint(blueprint)
    install_error_handlers(app)
    install_request_metrics(app)
    install_cors(app, coord.settings.cors_origins)
    # Quart documents wrapping its ASGI callable this way; mypy forbids assigning a method.
    app.asgi_app = EdgeMiddleware(app.asgi_app, coord.settings.max_body_bytes)  # type: ignore[method-assign]
    return app
