"""MemoryStore parts: invite codes, sign-up, logins (and changing a passphrase), sessions,
account-management keys, renaming keys.

Same rule as memory.py: a method awaits one checkpoint first, then never awaits again, and
checks everything before its first change.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

import trio

from . import validate as v
from .errors import UnknownApiKey
from .keys import display_prefix, hash_secret, new_id, new_secret, plausible_secret
from .memory_providers import SecretTable
from .models import Account, ApiKeyRecord, utc_now
from .selfservice import (
    ACCOUNT_KEY_PREFIX,
    INVITE_CODE_PREFIX,
    MAX_INVITE_USES,
    MAX_PASSWORD_HASH_LEN,
    MAX_SESSIONS_PER_ACCOUNT,
    SESSION_TOKEN_PREFIX,
    InviteCode,
    InviteRefused,
    LoginRecord,
    LoginTaken,
    SessionRecord,
    UnknownInviteCode,
    UnknownLogin,
)


def new_account_keys() -> SecretTable[ApiKeyRecord]:
    """The table MemoryStore keeps management keys in."""
    return SecretTable(ApiKeyRecord, "mkey", ACCOUNT_KEY_PREFIX, UnknownApiKey)


class MemorySelfServiceMixin:
    """Self-service state for MemoryStore (which supplies accounts)."""

    _accounts: dict[str, Account]
    _invites: dict[str, InviteCode]
    _invite_by_hash: dict[str, str]
    _logins: dict[str, LoginRecord]
    _login_by_account: dict[str, str]
    _sessions: dict[str, SessionRecord]  # by token hash
    _session_hashes: dict[str, list[str]]  # account id -> its token hashes, oldest first
    _account_keys: SecretTable[ApiKeyRecord]
    _api_keys: SecretTable[ApiKeyRecord]

    if TYPE_CHECKING:  # supplied by MemoryProvidersMixin

        def _account(self, account_id: object, what: str = "account_id") -> Account: ...

    # -- invite codes -------------------------------------------------------------------------

    async def create_invite_code(
        self, max_uses: int, expires_at: datetime, note: str = ""
    ) -> tuple[InviteCode, str]:
        await trio.lowlevel.checkpoint()
        uses = v.integer(max_uses, "max_uses", low=1, high=MAX_INVITE_USES)
        expiry = v.timestamp(expires_at, "expires_at")
        text = "" if note == "" else v.name(note, "note")
        raw = new_secret(INVITE_CODE_PREFIX)
        code = InviteCode(
            new_id("inv"), display_prefix(raw), text, uses, 0, expiry, utc_now(), None
        )
        self._invites[code.id] = code
        self._invite_by_hash[hash_secret(raw)] = code.id
        return code, raw

    async def list_invite_codes(self, limit: int = 1000) -> list[InviteCode]:
        await trio.lowlevel.checkpoint()
        count = v.limit(limit)
        newest = sorted(self._invites.values(), key=lambda c: (c.created_at, c.id), reverse=True)
        return newest[:count]

    async def revoke_invite_code(self, code_id: str) -> InviteCode:
        await trio.lowlevel.checkpoint()
        key = v.ident(code_id, "code_id")
        code = self._invites.get(key)
        if code is None:
            raise UnknownInviteCode(f"unknown invite code {key!r}")
        if code.revoked_at is None:
            code = dataclasses.replace(code, revoked_at=utc_now())
            self._invites[key] = code
        return code

    async def sign_up(
        self, raw_code: str, login: str, password_hash: str, now: datetime
    ) -> Account:
        await trio.lowlevel.checkpoint()
        name = v.name(login, "login").lower()
        hashed = v.text(password_hash, "password_hash", max_len=MAX_PASSWORD_HASH_LEN)
        at = v.timestamp(now, "now")
        code_id = (
            self._invite_by_hash.get(hash_secret(raw_code))
            if plausible_secret(raw_code, INVITE_CODE_PREFIX)
            else None
        )
        code = None if code_id is None else self._invites[code_id]
        if code is None:
            raise InviteRefused("unknown invite code")
        refusal = code.refusal(at)
        if refusal is not None:
            raise InviteRefused(refusal)
        if name in self._logins:
            raise LoginTaken(f"the login {name!r} is taken")
        account = Account(new_id("acct"), name, 0, 0, utc_now())
        self._accounts[account.id] = account
        self._invites[code.id] = dataclasses.replace(code, uses=code.uses + 1)
        self._logins[name] = LoginRecord(name, account.id, hashed, utc_now())
        self._login_by_account[account.id] = name
        return account

    async def get_login(self, login: str) -> LoginRecord | None:
        await trio.lowlevel.checkpoint()
        return self._logins.get(v.name(login, "login").lower())

    async def get_login_of(self, account_id: str) -> LoginRecord | None:
        await trio.lowlevel.checkpoint()
        name = self._login_by_account.get(v.ident(account_id, "account_id"))
        return None if name is None else self._logins[name]

    async def change_password(
        self, account_id: str, password_hash: str, keep_session_id: str | None
    ) -> int:
        await trio.lowlevel.checkpoint()
        key = v.ident(account_id, "account_id")
        hashed = v.text(password_hash, "password_hash", max_len=MAX_PASSWORD_HASH_LEN)
        keep = v.optional_ident(keep_session_id, "keep_session_id")
        name = self._login_by_account.get(key)
        if name is None:
            raise UnknownLogin(f"account {key!r} has no login")
        self._logins[name] = dataclasses.replace(self._logins[name], password_hash=hashed)
        mine = self._session_hashes.get(key, [])
        ended = [h for h in mine if h in self._sessions and self._sessions[h].id != keep]
        for hashed_token in ended:
            del self._sessions[hashed_token]
        mine[:] = [h for h in mine if h in self._sessions]
        return len(ended)

    # -- sessions -----------------------------------------------------------------------------

    async def create_session(
        self, account_id: str, csrf_token: str, expires_at: datetime
    ) -> tuple[SessionRecord, str]:
        await trio.lowlevel.checkpoint()
        account = self._account(account_id)
        csrf = v.ident(csrf_token, "csrf_token")
        expiry = v.timestamp(expires_at, "expires_at")
        now = utc_now()
        mine = self._session_hashes.setdefault(account.id, [])  # oldest first
        live = [h for h in mine if h in self._sessions and self._sessions[h].expires_at > now]
        for hashed in set(mine) - set(live):
            self._sessions.pop(hashed, None)
        doomed = live[: max(0, len(live) - MAX_SESSIONS_PER_ACCOUNT + 1)]
        for hashed in doomed:
            del self._sessions[hashed]
        mine[:] = live[len(doomed) :]
        raw = new_secret(SESSION_TOKEN_PREFIX)
        record = SessionRecord(new_id("sess"), account.id, csrf, now, expiry)
        self._sessions[hash_secret(raw)] = record
        mine.append(hash_secret(raw))
        return record, raw

    async def get_session(self, raw_token: str, now: datetime) -> SessionRecord | None:
        await trio.lowlevel.checkpoint()
        at = v.timestamp(now, "now")
        if not plausible_secret(raw_token, SESSION_TOKEN_PREFIX):
            return None
        record = self._sessions.get(hash_secret(raw_token))
        return record if record is not None and record.expires_at > at else None

    async def end_session(self, raw_token: str) -> None:
        await trio.lowlevel.checkpoint()
        if plausible_secret(raw_token, SESSION_TOKEN_PREFIX):
            self._sessions.pop(hash_secret(raw_token), None)

    async def end_sessions_of(self, account_id: str) -> int:
        await trio.lowlevel.checkpoint()
        key = v.ident(account_id, "account_id")
        ended = [h for h in self._session_hashes.pop(key, []) if self._sessions.pop(h, None)]
        return len(ended)

    # -- account-management keys ----------------------------------------------------------------

    async def create_account_key(self, account_id: str, name: str) -> tuple[ApiKeyRecord, str]:
        await trio.lowlevel.checkpoint()
        account = self._account(account_id)
        return self._account_keys.create(account.id, v.name(name))

    async def lookup_account_key(self, raw_key: str) -> ApiKeyRecord | None:
        await trio.lowlevel.checkpoint()
        return self._account_keys.lookup(raw_key)

    async def list_account_keys(self, account_id: str) -> list[ApiKeyRecord]:
        await trio.lowlevel.checkpoint()
        return self._account_keys.list_for(self._account(account_id).id)

    async def revoke_account_key(self, key_id: str) -> ApiKeyRecord:
        await trio.lowlevel.checkpoint()
        return self._account_keys.revoke(v.ident(key_id, "key_id"))

    async def rename_account_key(self, key_id: str, name: str) -> ApiKeyRecord:
        await trio.lowlevel.checkpoint()
        return self._account_keys.rename(v.ident(key_id, "key_id"), v.name(name))

    async def rename_api_key(self, key_id: str, name: str) -> ApiKeyRecord:
        await trio.lowlevel.checkpoint()
        return self._api_keys.rename(v.ident(key_id, "key_id"), v.name(name))
