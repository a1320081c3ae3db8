"""Invite codes for operators (admin key): create, list, revoke.

- `POST /admin/invite-codes` `{"max_uses": 1, "expires_in_s": 604800, "note": ""}` → 201
  `{"id", "code", "prefix", "note", "max_uses", "uses", "expires_at", "created_at",
  "revoked", "usable"}` (the raw `code` only here, once);
- `GET /admin/invite-codes` → `{"invite_codes": [...]}` newest first (at most 1000);
- `DELETE /admin/invite-codes/{id}` → the code, revoked (idempotent; 404 if unknown).
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from ..protocol.errors import not_found, parse_json_body
from ..protocol.selfservice_api import CreateInviteCode
from ..selfservice.invites import create_invite, invite_json
from ..storage.selfservice import UnknownInviteCode
from .admin_auth import require_admin_key
from .context import coordinator

invites = Blueprint("invites", __name__)


@invites.before_request
async def _require_admin_key() -> None:
    require_admin_key()


@invites.post("/admin/invite-codes")
async def create_invite_code() -> tuple[Response, int]:
    raw = await request.get_data()
    body = parse_json_body(raw, CreateInviteCode, max_bytes=coordinator().settings.max_body_bytes)
    code, secret = await create_invite(
        coordinator().store, body.max_uses, body.expires_in_s, body.note
    )
    return jsonify(invite_json(code, secret)), 201


@invites.get("/admin/invite-codes")
async def list_invite_codes() -> Response:
    codes = await coordinator().store.list_invite_codes()
    return jsonify({"invite_codes": [invite_json(c) for c in codes]})


@invites.delete("/admin/invite-codes/<code_id>")
async def revoke_invite_code(code_id: str) -> Response:
    try:
        code = await coordinator().store.revoke_invite_code(code_id)
    except UnknownInviteCode:
        raise not_found(f"No invite code {code_id!r}.") from None
    return jsonify(invite_json(code))
