"""Device codes in the Store contract: how a provider agent is linked to an account
without a token pasted by hand (RFC 8628's device authorization grant).

The agent asks for a code (`create_device_code`): it keeps the secret device code
(`dc-sy-…`, stored hashed) and shows its owner the short user code. The owner, signed in,
approves or denies the user code (`decide_device_code`). The agent polls with the device
code (`poll_device_code`); the poll that finds it approved mints the provider token, in
the same transaction that marks the code used, so a code yields at most one token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from .errors import StoreError

DEVICE_CODE_PREFIX = "dc-sy-"
SLOW_DOWN_STEP_S = 5  # RFC 8628, section 3.5: each slow_down adds 5 s to the interval


class DeviceCodeRefused(StoreError):
    """The user code is unknown, expired, or was already approved or denied."""


class TooManyDeviceCodes(StoreError):
    """Too many codes are pending on this coordinator; try again later."""


class PollStatus(StrEnum):
    """What a poll found."""

    PENDING = "pending"  # not decided yet
    SLOW_DOWN = "slow_down"  # polled sooner than the interval (which grows)
    APPROVED = "approved"  # the token was minted by this poll
    DENIED = "denied"
    EXPIRED = "expired"
    USED = "used"  # a token was already minted for this code
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DeviceCodeRecord:
    """A device code's state; the secret device code itself is never stored."""

    id: str
    user_code: str
    name: str
    interval_s: int
    created_at: datetime
    expires_at: datetime
    polled_at: datetime | None
    approved_by: str | None
    decided_at: datetime | None
    denied: bool
    token_id: str | None
    consumed_at: datetime | None


@dataclass(frozen=True, slots=True)
class DevicePoll:
    """The outcome of one poll: `token` (raw, shown once) only when APPROVED."""

    status: PollStatus
    record: DeviceCodeRecord | None = None
    token: str | None = None


def poll_outcome(record: DeviceCodeRecord, now: datetime) -> PollStatus:
    """What a poll at `now` of the (locked) `record` finds, by the RFC 8628 rules both
    stores share: USED, DENIED or EXPIRED end it; SLOW_DOWN when polled sooner than the
    interval; PENDING while undecided; APPROVED when this poll may mint the token."""
    if record.consumed_at is not None:
        return PollStatus.USED
    if record.denied:
        return PollStatus.DENIED
    if record.expires_at <= now:
        return PollStatus.EXPIRED
    if record.polled_at is not None and now - record.polled_at < timedelta(
        seconds=record.interval_s
    ):
        return PollStatus.SLOW_DOWN
    return PollStatus.PENDING if record.approved_by is None else PollStatus.APPROVED


class DeviceCodeStore(Protocol):
    """Device codes for linking provider agents."""

    async def create_device_code(
        self, name: str, user_code: str, expires_at: datetime, interval_s: int, max_pending: int
    ) -> tuple[DeviceCodeRecord, str]:
        """Store a new code; returns (record, raw device code). Forgets codes expired more
        than a day ago. `TooManyDeviceCodes` when `max_pending` unexpired codes are
        undecided; `Conflict` if the user code is in use (the caller draws another)."""

    async def get_device_code(self, user_code: str) -> DeviceCodeRecord | None:
        """The code with this user code (any state), or None."""

    async def decide_device_code(
        self, user_code: str, account_id: str, approve: bool, now: datetime
    ) -> DeviceCodeRecord:
        """Approve (for `account_id`) or deny a pending, unexpired code; otherwise
        `DeviceCodeRefused`."""

    async def poll_device_code(self, raw_device_code: str, now: datetime) -> DevicePoll:
        """One poll by the agent (see the module docstring and `PollStatus`)."""
