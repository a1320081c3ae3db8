"""The device-code flow over HTTP (`selfservice/device.py` has the rules):

- `POST /v1/device/code` `{"name": "gpu-box-1"}` (no credentials) → `{"device_code",
  "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval"}`
- `POST /v1/device/token` `{"device_code"}` → 200 `{"provider_token", "token_id",
  "account_id", "name"}` once approved; until then 400 with `error.code`
  `authorization_pending`, `slow_down`, `access_denied`, `expired_token` or `invalid_grant`
- `GET /v1/device/pending?user_code=…` (signed in) → what an approval would link
- `POST /v1/device/approve` / `/v1/device/deny` `{"user_code"}` (signed in; session +
  CSRF token, or a management key)
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from ..protocol.errors import invalid_request, parse_json_body
from ..protocol.selfservice_api import DeviceCodeRequest, DeviceDecision, DeviceTokenRequest
from ..selfservice import device
from .context import coordinator
from .session_auth import client_address, require_principal

device_flow = Blueprint("device_flow", __name__)


async def _body(model: type[Any]) -> Any:
    raw = await request.get_data()
    return parse_json_body(raw, model, max_bytes=coordinator().settings.max_body_bytes)


@device_flow.post("/v1/device/code")
async def create_code() -> Response:
    body = await _body(DeviceCodeRequest)
    coord = coordinator()
    started = await device.start(
        coord.selfservice, coord.store, body.name, request.host_url, client_address()
    )
    return jsonify(started)


@device_flow.post("/v1/device/token")
async def token() -> Response:
    body = await _body(DeviceTokenRequest)
    return jsonify(await device.poll(coordinator().store, body.device_code))


@device_flow.get("/v1/device/pending")
async def pending() -> Response:
    principal = await require_principal()
    user_code = request.args.get("user_code")
    if not user_code:
        raise invalid_request("Give the code the agent shows.", param="user_code")
    coord = coordinator()
    return jsonify(
        await device.describe(coord.selfservice, coord.store, principal.account_id, user_code)
    )


async def _decide(approve: bool) -> Response:
    principal = await require_principal()
    body = await _body(DeviceDecision)
    coord = coordinator()
    decided = await device.decide(
        coord.selfservice, coord.store, principal.account_id, body.user_code, approve
    )
    return jsonify(decided)


@device_flow.post("/v1/device/approve")
async def approve() -> Response:
    return await _decide(True)


@device_flow.post("/v1/device/deny")
async def deny() -> Response:
    return await _decide(False)
