"""The device-code flow that links a provider agent to its owner's account (RFC 8628).

1. The agent (`switchyard provider login`) calls `start` (`POST /v1/device/code`): it
   gets a secret `device_code`, a short `user_code` such as `BCDF-GHJK`, the
   `verification_uri` (the dashboard's `/dashboard/device`), `expires_in` and `interval`.
2. The owner, signed in, approves (or denies) the user code (`decide`).
3. The agent polls (`poll`, `POST /v1/device/token`) no faster than `interval`: 400
   `authorization_pending` until decided, `slow_down` when too fast (the interval grows by
   5 s), `access_denied`, `expired_token`, or `invalid_grant` (unknown or already used);
   the first poll after approval returns the provider token, once.

User codes are 8 letters from an alphabet without vowels or look-alikes (20^8 codes);
approvals are throttled per account, so guessing another agent's code is hopeless.
Creating codes is throttled per client address and capped coordinator-wide.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from ..protocol.errors import (
    ApiError,
    conflict,
    invalid_request,
    not_found,
    rate_limited,
    service_unavailable,
)
from ..protocol.limits import DEVICE_CODE_TTL_S, DEVICE_POLL_INTERVAL_S, MAX_PENDING_DEVICE_CODES
from ..protocol.vocabulary import ApiErrorCode
from ..storage.device_codes import DeviceCodeRefused, PollStatus, TooManyDeviceCodes
from ..storage.errors import Conflict
from ..storage.models import utc_now
from ..storage.protocol import Store
from .accounts import admit_attempt
from .state import SelfServiceState

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
VERIFICATION_PATH = "/dashboard/device"


def new_user_code() -> str:
    """`XXXX-XXXX` from ALPHABET."""
    letters = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def normalize_user_code(raw: str) -> str:
    """A typed user code in its stored form (case, spaces and dashes forgiven); 400 if it
    cannot be one."""
    letters = "".join(c for c in raw.upper() if c not in " -")
    if len(letters) != 8 or any(c not in ALPHABET for c in letters):
        raise invalid_request("A code is 8 letters, like BCDF-GHJK.", param="user_code")
    return f"{letters[:4]}-{letters[4:]}"


async def start(
    state: SelfServiceState, store: Store, name: str, base_url: str, address: str
) -> dict[str, Any]:
    """A new device code for an agent calling from `address`."""
    await admit_attempt(state, address)
    expires = utc_now() + timedelta(seconds=DEVICE_CODE_TTL_S)
    for _ in range(5):
        user_code = new_user_code()
        try:
            record, raw = await store.create_device_code(
                name, user_code, expires, DEVICE_POLL_INTERVAL_S, MAX_PENDING_DEVICE_CODES
            )
            break
        except Conflict:
            continue  # that user code is live; draw another
        except TooManyDeviceCodes:
            raise service_unavailable(
                "Too many device codes are pending; try again in a few minutes.",
                ApiErrorCode.RATE_LIMIT_EXCEEDED,
                retry_after=60,
            ) from None
    else:
        raise service_unavailable(
            "Could not draw a free code.", ApiErrorCode.CONFLICT, retry_after=1
        )
    uri = base_url.rstrip("/") + VERIFICATION_PATH
    return {
        "device_code": raw,
        "user_code": record.user_code,
        "verification_uri": uri,
        "verification_uri_complete": f"{uri}?user_code={record.user_code}",
        "expires_in": DEVICE_CODE_TTL_S,
        "interval": record.interval_s,
    }


async def describe(
    state: SelfServiceState, store: Store, account_id: str, user_code: str
) -> dict[str, Any]:
    """What the owner is about to approve: the agent's name and when it asked (404 if the
    code is unknown or no longer pending). A miss counts against the account's wrong-code
    budget, as in `decide`, so looking codes up cannot be used to guess them."""
    await _admit_guess(state, account_id)
    code = normalize_user_code(user_code)
    record = await store.get_device_code(code)
    if record is None or record.decided_at is not None or record.expires_at <= utc_now():
        await state.device_failures.hit(account_id)
        raise not_found(
            "No pending device code like that; start `switchyard provider login` again."
        )
    return {
        "user_code": record.user_code,
        "name": record.name,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
    }


async def decide(
    state: SelfServiceState, store: Store, account_id: str, user_code: str, approve: bool
) -> dict[str, Any]:
    """Approve (link the agent to `account_id`) or deny a pending code."""
    await _admit_guess(state, account_id)
    code = normalize_user_code(user_code)
    try:
        record = await store.decide_device_code(code, account_id, approve, utc_now())
    except DeviceCodeRefused as exc:
        await state.device_failures.hit(account_id)
        if "unknown" in str(exc):
            raise not_found("No device code like that.") from None
        if "expired" in str(exc):
            raise invalid_request(
                "This code has expired; start `switchyard provider login` again.",
                param="user_code",
                code=ApiErrorCode.EXPIRED_TOKEN,
            ) from None
        raise conflict("This code was already used.", param="user_code") from None
    return {"user_code": record.user_code, "name": record.name, "approved": approve}


async def _admit_guess(state: SelfServiceState, account_id: str) -> None:
    """429 while `account_id` has used up its wrong-code budget."""
    wait = await state.device_failures.retry_after(account_id)
    if wait is not None:
        raise rate_limited(wait, "Too many wrong device codes; try again later.")


def _poll_error(status: PollStatus, interval: int | None) -> ApiError:
    messages = {
        PollStatus.PENDING: ("Not approved yet.", ApiErrorCode.AUTHORIZATION_PENDING),
        PollStatus.SLOW_DOWN: (
            f"Polling too fast; wait {interval} s between polls.", ApiErrorCode.SLOW_DOWN,
        ),
        PollStatus.DENIED: ("The owner denied this code.", ApiErrorCode.ACCESS_DENIED),
        PollStatus.EXPIRED: ("This code has expired.", ApiErrorCode.EXPIRED_TOKEN),
        PollStatus.USED: ("This code was already used.", ApiErrorCode.INVALID_GRANT),
        PollStatus.UNKNOWN: ("Unknown device code.", ApiErrorCode.INVALID_GRANT),
    }  # fmt: skip
    message, code = messages[status]
    return invalid_request(message, param="device_code", code=code)


async def poll(store: Store, device_code: str) -> dict[str, Any]:
    """One poll: the provider token once approved, else the RFC 8628 error."""
    result = await store.poll_device_code(device_code, utc_now())
    if result.status is not PollStatus.APPROVED or result.record is None or result.token is None:
        interval = result.record.interval_s if result.record is not None else None
        raise _poll_error(result.status, interval)
    return {
        "provider_token": result.token,
        "token_id": result.record.token_id,
        "account_id": result.record.approved_by,
        "name": result.record.name,
    }
