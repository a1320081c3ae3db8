"""The `/dashboard` blueprint, assembled: importing this module registers every page.

- dashboard_pages.py     the blueprint, page rendering, security headers, HTML error pages
- dashboard_session.py   login, sign-up, logout; `signed_in_page`
- dashboard_consumer.py  overview, API keys (create, rename, limits, revoke), usage, billing
- dashboard_account.py   account settings: change the passphrase
- dashboard_provider.py  provider nodes, earnings, payouts, leaderboard, device approval
"""

from __future__ import annotations

from . import dashboard_account, dashboard_consumer, dashboard_provider, dashboard_session
from .dashboard_pages import dashboard

__all__ = [
    "dashboard",
    "dashboard_account",
    "dashboard_consumer",
    "dashboard_provider",
    "dashboard_session",
]
