"""MemoryStore part: stored responses (`StoredResponseStore`), per account, with expiry.

Same rule as memory.py: a method awaits one checkpoint first, then never awaits again.
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

    _responses: dict[str, StoredResponse]  # by id, in insertion (creation) order

    if TYPE_CHECKING:

        def _account(self, account_id: object, what: str = "account_id") -> Account: ...

    async def put_response(self, record: StoredResponse, *, max_count: int, max_bytes: int) -> None:
        await trio.lowlevel.checkpoint()
        check_record(record, max_count, max_bytes)
        account = self._account(record.account_id)
        if record.id in self._responses:
            raise Conflict(f"response {record.id} already exists")
        self._responses[record.id] = record
        now = utc_now()
        mine = [r for r in self._responses.values() if r.account_id == account.id]
        count = total = 0
        for stored in reversed(mine):  # newest first: keep while within both bounds
            count += 1
            total += stored.size_bytes
            if count > max_count or total > max_bytes or stored.expires_at <= now:
                del self._responses[stored.id]

    async def get_response(self, account_id: str, response_id: str) -> StoredResponse | None:
        await trio.lowlevel.checkpoint()
        account, rid = v.ident(account_id, "account_id"), v.ident(response_id, "response_id")
        record = self._responses.get(rid)
        if record is None or record.account_id != account:
            return None
        if record.expires_at <= utc_now():
            del self._responses[rid]
            return None
        return record

    async def delete_response(self, account_id: str, response_id: str) -> bool:
        await trio.lowlevel.checkpoint()
        account, rid = v.ident(account_id, "account_id"), v.ident(response_id, "response_id")
        record = self._responses.get(rid)
        if record is None or record.account_id != account:
            return False
        del self._responses[rid]
        return record.expires_at > utc_now()

    async def purge_expired_responses(self) -> int:
        await trio.lowlevel.checkpoint()
        now = utc_now()
        expired = [rid for rid, r in self._responses.items() if r.expires_at <= now]
        for rid in expired:
            del self._responses[rid]
        return len(expired)
