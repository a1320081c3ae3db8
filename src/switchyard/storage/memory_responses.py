"""MemoryStore part: stored responses (`StoredResponseStore`), per account, with expiry.

Same rule as memory.py: a method awaits one checkpoint first, then never awaits again.
Responses are held per account (in creation order), so storing one touches only its
account's responses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from . import validate as v
from .errors import Conflict
from .models import Account, utc_now
from .stored_responses import StoredResponse, check_record


class MemoryResponsesMixin:
    """Stored responses for MemoryStore (which supplies `_account`)."""

    _responses: dict[str, dict[str, StoredResponse]]  # account id → id → record, oldest first
    _response_owners: dict[str, str]  # response id → account id

    if TYPE_CHECKING:

        def _account(self, account_id: object, what: str = "account_id") -> Account: ...

    def _drop_response(self, record: StoredResponse) -> None:
        mine = self._responses[record.account_id]
        del mine[record.id]
        del self._response_owners[record.id]
        if not mine:
            del self._responses[record.account_id]

    async def put_response(self, record: StoredResponse, *, max_count: int, max_bytes: int) -> None:
        await trio.lowlevel.checkpoint()
        check_record(record, max_count, max_bytes)
        account = self._account(record.account_id)
        if record.id in self._response_owners:
            raise Conflict(f"response {record.id} already exists")
        self._responses.setdefault(account.id, {})[record.id] = record
        self._response_owners[record.id] = account.id
        now = utc_now()
        count = total = 0
        for stored in reversed(list(self._responses[account.id].values())):  # newest first
            count += 1
            total += stored.size_bytes
            if count > max_count or total > max_bytes or stored.expires_at <= now:
                self._drop_response(stored)

    def _mine(self, account_id: str, response_id: str) -> StoredResponse | None:
        account, rid = v.ident(account_id, "account_id"), v.ident(response_id, "response_id")
        return self._responses.get(account, {}).get(rid)

    async def get_response(self, account_id: str, response_id: str) -> StoredResponse | None:
        await trio.lowlevel.checkpoint()
        record = self._mine(account_id, response_id)
        if record is None:
            return None
        if record.expires_at <= utc_now():
            self._drop_response(record)
            return None
        return record

    async def delete_response(self, account_id: str, response_id: str) -> bool:
        await trio.lowlevel.checkpoint()
        record = self._mine(account_id, response_id)
        if record is None:
            return False
        self._drop_response(record)
        return record.expires_at > utc_now()

    async def purge_expired_responses(self) -> int:
        await trio.lowlevel.checkpoint()
        now = utc_now()
        expired = [
            r for mine in self._responses.values() for r in mine.values() if r.expires_at <= now
        ]
        for record in expired:
            self._drop_response(record)
        return len(expired)
