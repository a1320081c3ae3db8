"""MemoryStore parts: device codes (storage/device_codes.py).

Same rule as memory.py: one checkpoint first, then no await, every check before a change.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import trio

from . import validate as v
from .device_codes import (
    DEVICE_CODE_PREFIX,
    SLOW_DOWN_STEP_S,
    DeviceCodeRecord,
    DeviceCodeRefused,
    DevicePoll,
    PollStatus,
    TooManyDeviceCodes,
    poll_outcome,
)
from .errors import Conflict
from .keys import hash_secret, new_id, new_secret, plausible_secret
from .models import Account, ProviderTokenRecord, utc_now

if TYPE_CHECKING:
    from .memory_providers import SecretTable

FORGET_AFTER = timedelta(days=1)


class MemoryDeviceCodesMixin:
    """Device codes for MemoryStore (which supplies accounts and provider tokens)."""

    _device_codes: dict[str, DeviceCodeRecord]  # by device-code hash
    _device_by_user_code: dict[str, str]  # user code -> device-code hash
    _tokens: SecretTable[ProviderTokenRecord]

    if TYPE_CHECKING:

        def _account(self, account_id: object, what: str = "account_id") -> Account: ...

    async def create_device_code(
        self, name: str, user_code: str, expires_at: datetime, interval_s: int, max_pending: int
    ) -> tuple[DeviceCodeRecord, str]:
        await trio.lowlevel.checkpoint()
        label = v.name(name)
        code = v.ident(user_code, "user_code")
        expiry = v.timestamp(expires_at, "expires_at")
        interval = v.integer(interval_s, "interval_s", low=1, high=3600)
        cap = v.integer(max_pending, "max_pending", low=1, high=10**7)
        now = utc_now()
        for hashed, record in list(self._device_codes.items()):
            if record.expires_at + FORGET_AFTER <= now:
                del self._device_codes[hashed]
                self._device_by_user_code.pop(record.user_code, None)
        pending = sum(
            1 for r in self._device_codes.values() if r.expires_at > now and r.decided_at is None
        )
        if pending >= cap:
            raise TooManyDeviceCodes("too many device codes are pending")
        if code in self._device_by_user_code:
            raise Conflict("that user code is in use")
        raw = new_secret(DEVICE_CODE_PREFIX)
        record = DeviceCodeRecord(
            new_id("dev"), code, label, interval, now, expiry, None, None, None, False, None, None
        )
        self._device_codes[hash_secret(raw)] = record
        self._device_by_user_code[code] = hash_secret(raw)
        return record, raw

    async def get_device_code(self, user_code: str) -> DeviceCodeRecord | None:
        await trio.lowlevel.checkpoint()
        hashed = self._device_by_user_code.get(v.ident(user_code, "user_code"))
        return None if hashed is None else self._device_codes.get(hashed)

    async def decide_device_code(
        self, user_code: str, account_id: str, approve: bool, now: datetime
    ) -> DeviceCodeRecord:
        await trio.lowlevel.checkpoint()
        code = v.ident(user_code, "user_code")
        account = self._account(account_id)
        at = v.timestamp(now, "now")
        hashed = self._device_by_user_code.get(code)
        record = None if hashed is None else self._device_codes.get(hashed)
        if record is None or hashed is None:
            raise DeviceCodeRefused("unknown code")
        if record.expires_at <= at:
            raise DeviceCodeRefused("this code has expired")
        if record.decided_at is not None:
            raise DeviceCodeRefused("this code was already used")
        decided = dataclasses.replace(
            record,
            approved_by=account.id if approve else None,
            denied=not approve,
            decided_at=utc_now(),
        )
        self._device_codes[hashed] = decided
        return decided

    async def poll_device_code(self, raw_device_code: str, now: datetime) -> DevicePoll:
        await trio.lowlevel.checkpoint()
        at = v.timestamp(now, "now")
        if not plausible_secret(raw_device_code, DEVICE_CODE_PREFIX):
            return DevicePoll(PollStatus.UNKNOWN)
        hashed = hash_secret(raw_device_code)
        record = self._device_codes.get(hashed)
        if record is None:
            return DevicePoll(PollStatus.UNKNOWN)
        status = poll_outcome(record, at)
        if status in (PollStatus.USED, PollStatus.DENIED, PollStatus.EXPIRED):
            return DevicePoll(status, record)
        if status is PollStatus.SLOW_DOWN:
            slowed = dataclasses.replace(
                record, polled_at=at, interval_s=record.interval_s + SLOW_DOWN_STEP_S
            )
            self._device_codes[hashed] = slowed
            return DevicePoll(PollStatus.SLOW_DOWN, slowed)
        if status is PollStatus.PENDING:
            polled = dataclasses.replace(record, polled_at=at)
            self._device_codes[hashed] = polled
            return DevicePoll(PollStatus.PENDING, polled)
        assert record.approved_by is not None  # APPROVED: decided by an account
        token, raw = self._tokens.create(record.approved_by, record.name)
        used = dataclasses.replace(record, polled_at=at, token_id=token.id, consumed_at=utc_now())
        self._device_codes[hashed] = used
        return DevicePoll(PollStatus.APPROVED, used, raw)
