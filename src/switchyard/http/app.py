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
from .dashboard import dashboard
from .device import device_flow
from .edge import EdgeMiddleware
from .embeddings import embeddings
from .errors import install_error_handlers
from .inspection import inspection
from .invites import invites
from .metrics import metrics
from .models import models
from .observe import install_request_metrics
from .ops import ops
from .payouts import payouts
from .provider_ws import provider_ws
from .responses import responses
from .selfservice_account import selfservice_account
from .selfservice_auth import selfservice_auth
from .selfservice_provider import selfservice_provider
from .stats import stats
from .token_count import token_count

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
        invites,
        inspection,
        cluster,
        payouts,
        consumer,
        responses,
        embeddings,
        models,
        token_count,
        account,
        selfservice_auth,
        selfservice_account,
        selfservice_provider,
        device_flow,
        stats,
        billing,
        provider_ws,
        dashboard,
    ):
        app.register_blueprint(blueprint)
    install_error_handlers(app)
    install_request_metrics(app)
    install_cors(app, coord.settings.cors_origins)
    # Quart documents wrapping its ASGI callable this way; mypy forbids assigning a method.
    app.asgi_app = EdgeMiddleware(app.asgi_app, coord.settings.max_body_bytes)  # type: ignore[method-assign]
    return app
