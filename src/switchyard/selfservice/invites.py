"""Invite codes: what operators create (admin API and CLI) and sign-up consumes.

A code allows `max_uses` sign-ups until it expires or is revoked; the raw code
(`inv-sy-…`) is shown once, at creation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..storage.models import utc_now
from ..storage.protocol import Store
from ..storage.selfservice import InviteCode


def invite_json(code: InviteCode, raw: str | None = None) -> dict[str, Any]:
    """An invite code as the API shows it (`code` only when just created)."""
    now = utc_now()
    body: dict[str, Any] = {"id": code.id}
    if raw is not None:
        body["code"] = raw
    return {
        **body,
        "prefix": code.prefix,
        "note": code.note,
        "max_uses": code.max_uses,
        "uses": code.uses,
        "expires_at": code.expires_at.isoformat(),
        "created_at": code.created_at.isoformat(),
        "revoked": code.revoked_at is not None,
        "usable": code.refusal(now) is None,
    }


async def create_invite(
    store: Store, max_uses: int, expires_in_s: int, note: str = ""
) -> tuple[InviteCode, str]:
    """Mint a code good for `max_uses` sign-ups during the next `expires_in_s` seconds."""
    expires = utc_now() + timedelta(seconds=expires_in_s)
    return await store.create_invite_code(max_uses, expires, note)
