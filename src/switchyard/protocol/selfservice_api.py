"""Request bodies of the self-service API (README, "Self-service"): strict, bounded.

Oversized or mistyped fields and unknown fields are 400s naming the field; the domain
checks (login name pattern, passphrase length, limits against the account's) live in
`switchyard.selfservice` so the dashboard's forms get the same answers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .limits import MAX_LABEL_CHARS, MAX_PASSWORD_CHARS

Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_CHARS)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Login = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS)]
Limit = Annotated[int, Field(ge=1, le=10**9)]


class SelfServiceBody(BaseModel):
    """Strict bodies: wrong types and unknown fields are 400s naming them."""

    model_config = ConfigDict(strict=True, extra="forbid")


class CreateInviteCode(SelfServiceBody):
    """`POST /admin/invite-codes`."""

    max_uses: Annotated[int, Field(ge=1, le=10_000)] = 1
    expires_in_s: Annotated[int, Field(ge=60, le=365 * 24 * 3600)] = 7 * 24 * 3600
    note: Annotated[str, StringConstraints(max_length=MAX_LABEL_CHARS)] = ""


class SignUp(SelfServiceBody):
    """`POST /v1/signup`."""

    invite_code: Secret
    login: Login
    password: Password


class LogIn(SelfServiceBody):
    """`POST /v1/account/login`."""

    login: Login
    password: Password


class ChangePassword(SelfServiceBody):
    """`POST /v1/account/password` (session only)."""

    current_password: Password
    new_password: Password


class RenameKey(SelfServiceBody):
    """`PATCH /v1/account/keys/{id}` and `/v1/account/management-keys/{id}`."""

    name: Label


class CreateOwnKey(SelfServiceBody):
    """`POST /v1/account/keys`: an API key, limits at or below the account's."""

    name: Label = "default"
    rpm: Limit | None = None
    tpm: Limit | None = None


class OwnKeyLimits(SelfServiceBody):
    """`PUT /v1/account/keys/{id}/limits`: null means the account's own limit."""

    rpm: Limit | None = None
    tpm: Limit | None = None


class CreateManagementKey(SelfServiceBody):
    """`POST /v1/account/management-keys`."""

    name: Label = "default"


class DeviceCodeRequest(SelfServiceBody):
    """`POST /v1/device/code`: the agent names the machine it runs on."""

    name: Label = "provider"


class DeviceTokenRequest(SelfServiceBody):
    """`POST /v1/device/token`: the agent polls with its device code."""

    device_code: Secret


class DeviceDecision(SelfServiceBody):
    """`POST /v1/device/approve` and `/v1/device/deny`."""

    user_code: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class LeaderboardChoice(SelfServiceBody):
    """`PUT /v1/account/nodes/{id}/leaderboard`."""

    listed: bool
