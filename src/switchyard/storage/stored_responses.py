"""Stored Responses (`POST /v1/responses` with `store`): the record and its Store domain.

A stored response keeps, per account, what `previous_response_id` needs to continue the
conversation (its input items, earlier turns included, then its output items) and the
response object `GET /v1/responses/{id}` shows; its `input_items` (the conversation
without its own output) are what `GET /v1/responses/{id}/input_items` lists. Each
expires at `expires_at` (the retention setting); an expired one is absent (and deleted
when found). What one account keeps is bounded: storing a response evicts that
account's oldest ones beyond a count and a total size (bytes of their JSON), both
given by the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from . import validate as v
from .errors import InvalidInput


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One stored response of one account."""

    id: str
    account_id: str
    conversation: list[dict[str, Any]]  # input items (earlier turns first), then the output
    response: dict[str, Any]  # the response object as GET shows it
    created_at: datetime
    expires_at: datetime

    @property
    def input_items(self) -> list[dict[str, Any]]:
        """The items it was generated from: the conversation without its own output."""
        output = self.response.get("output")
        count = len(output) if isinstance(output, list) else 0
        return self.conversation[: max(0, len(self.conversation) - count)]

    @property
    def size_bytes(self) -> int:
        """What it counts against its account's stored bytes: its JSON, as stored."""
        return len(dump_json(self.conversation)) + len(dump_json(self.response))


def dump_json(value: Any) -> bytes:
    """Compact JSON, non-ASCII kept (the form both stores keep)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def check_record(record: StoredResponse, max_count: int, max_bytes: int) -> None:
    """`InvalidInput` unless the record and its bounds are well formed."""
    v.ident(record.id, "response_id")
    v.ident(record.account_id, "account_id")
    if max_count < 1 or max_bytes < 1:
        raise InvalidInput("max_count and max_bytes must be positive")
    if record.expires_at <= record.created_at:
        raise InvalidInput("expires_at must be after created_at")


class StoredResponseStore(Protocol):
    """Stored responses, per account, with an expiry (see the module docstring)."""

    async def put_response(self, record: StoredResponse, *, max_count: int, max_bytes: int) -> None:
        """Store `record` (its id must be new: `Conflict` otherwise; unknown account:
        `UnknownAccount`), then delete the account's expired responses and its oldest
        ones beyond `max_count` of them or `max_bytes` in total (the new one counts, and
        may itself go if it alone exceeds `max_bytes`)."""

    async def get_response(self, account_id: str, response_id: str) -> StoredResponse | None:
        """The response if it is `account_id`'s and has not expired, else None (an expired
        one is deleted)."""

    async def delete_response(self, account_id: str, response_id: str) -> bool:
        """Delete the account's response; False if it had none of that id (or it expired)."""

    async def purge_expired_responses(self) -> int:
        """Delete every expired response (the coordinator does at start-up); how many."""
