"""The `/dashboard` blueprint, assembled: importing this module registers every page.

- dashboard_pages.py     the blueprint, page rendering, security headers, HTML error pages
- dashboard_session.py   login, sign-up, logout; `signed_in_page`
- dashboard_consumer.py  overview, API keys, usage, billing
- dashboard_provider.py  provider nodes, earnings, payouts, leaderboard, device approval
"""

from __future__ import annotations

from . import dashboard_consumer, dashboard_provider, dashboard_session
from .dashboard_pages import dashboard

__all__ = ["dashboard", "dashboard_consumer", "dashboard_provider", "dashboard_session"]
