"""PostgresStore parts: invite codes, sign-up, logins (and changing a passphrase), sessions,
account-management keys, renaming keys.

`PgSelfServiceMixin` validates on the trio side and runs the asyncio coroutines below
through `PostgresStore._run` (one pooled connection, one transaction where it matters).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

import asyncpg
import trio

from . import pg_queries as q
from . import validate as v
from .errors import UnknownApiKey
from .keys import display_prefix, hash_secret, new_id, new_secret, plausible_secret
from .models import Account, ApiKeyRecord
from .pg_money import ensure_account
from .pg_rows import ACCOUNT_COLS, to_account, to_api_key
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

ACCOUNT_KEYS = q.SecretTable(
    "account_keys", "key_hash", "mkey", ACCOUNT_KEY_PREFIX, to_api_key, UnknownApiKey
)
INVITE_COLS = "id, prefix, note, max_uses, uses, expires_at, created_at, revoked_at"
LOGIN_COLS = "login, account_id, password_hash, created_at"
SESSION_COLS = "id, account_id, csrf_token, created_at, expires_at"


def _invite(row: asyncpg.Record) -> InviteCode:
    return InviteCode(**dict(row))


# -- asyncio side -----------------------------------------------------------------------------


async def create_invite_code(
    conn: asyncpg.Connection, max_uses: int, expires_at: datetime, note: str
) -> tuple[InviteCode, str]:
    raw = new_secret(INVITE_CODE_PREFIX)
    row = await conn.fetchrow(
        "INSERT INTO invite_codes (id, code_hash, prefix, note, max_uses, expires_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {INVITE_COLS}",
        new_id("inv"),
        hash_secret(raw),
        display_prefix(raw),
        note,
        max_uses,
        expires_at,
    )
    return _invite(row), raw


async def list_invite_codes(conn: asyncpg.Connection, limit: int) -> list[InviteCode]:
    rows = await conn.fetch(
        f"SELECT {INVITE_COLS} FROM invite_codes ORDER BY created_at DESC, id DESC LIMIT $1",
        limit,
    )
    return [_invite(r) for r in rows]


async def revoke_invite_code(conn: asyncpg.Connection, code_id: str) -> InviteCode:
    row = await conn.fetchrow(
        "UPDATE invite_codes SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 "
        f"RETURNING {INVITE_COLS}",
        code_id,
    )
    if row is None:
        raise UnknownInviteCode(f"unknown invite code {code_id!r}")
    return _invite(row)


async def sign_up(
    conn: asyncpg.Connection, code_hash: str | None, login: str, password_hash: str, now: datetime
) -> Account:
    """Lock the code's row, check it, take a use, create the account and its login."""
    async with conn.transaction():
        row = (
            None
            if code_hash is None
            else await conn.fetchrow(
                f"SELECT {INVITE_COLS} FROM invite_codes WHERE code_hash = $1 FOR UPDATE",
                code_hash,
            )
        )
        if row is None:
            raise InviteRefused("unknown invite code")
        code = _invite(row)
        refusal = code.refusal(now)
        if refusal is not None:
            raise InviteRefused(refusal)
        taken = await conn.fetchval("SELECT 1 FROM account_logins WHERE login = $1", login)
        if taken:
            raise LoginTaken(f"the login {login!r} is taken")
        await conn.execute("UPDATE invite_codes SET uses = uses + 1 WHERE id = $1", code.id)
        account = to_account(
            await conn.fetchrow(
                f"INSERT INTO accounts (id, name) VALUES ($1, $2) RETURNING {ACCOUNT_COLS}",
                new_id("acct"),
                login,
            )
        )
        try:
            await conn.execute(
                "INSERT INTO account_logins (login, account_id, password_hash, invite_code_id) "
                "VALUES ($1, $2, $3, $4)",
                login,
                account.id,
                password_hash,
                code.id,
            )
        except asyncpg.UniqueViolationError:  # a concurrent sign-up won the name
            raise LoginTaken(f"the login {login!r} is taken") from None
        return account


async def get_login(conn: asyncpg.Connection, column: str, value: str) -> LoginRecord | None:
    row = await conn.fetchrow(f"SELECT {LOGIN_COLS} FROM account_logins WHERE {column} = $1", value)
    return None if row is None else LoginRecord(**dict(row))


async def change_password(
    conn: asyncpg.Connection, account_id: str, password_hash: str, keep: str | None
) -> int:
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE account_logins SET password_hash = $2 WHERE account_id = $1",
            account_id,
            password_hash,
        )
        if status == "UPDATE 0":
            raise UnknownLogin(f"account {account_id!r} has no login")
        status = await conn.execute(
            "DELETE FROM account_sessions WHERE account_id = $1 AND id IS DISTINCT FROM $2::text",
            account_id,
            keep,
        )
    return int(status.split()[-1])


async def create_session(
    conn: asyncpg.Connection, account_id: str, csrf: str, expires_at: datetime
) -> tuple[SessionRecord, str]:
    raw = new_secret(SESSION_TOKEN_PREFIX)
    async with conn.transaction():
        await ensure_account(conn, account_id)
        await conn.execute(
            "DELETE FROM account_sessions WHERE account_id = $1 AND (expires_at <= now() "
            "OR token_hash IN (SELECT token_hash FROM account_sessions WHERE account_id = $1 "
            "ORDER BY created_at DESC, id DESC OFFSET $2))",
            account_id,
            MAX_SESSIONS_PER_ACCOUNT - 1,
        )
        row = await conn.fetchrow(
            "INSERT INTO account_sessions (token_hash, id, account_id, csrf_token, expires_at) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {SESSION_COLS}",
            hash_secret(raw),
            new_id("sess"),
            account_id,
            csrf,
            expires_at,
        )
    return SessionRecord(**dict(row)), raw


async def get_session(
    conn: asyncpg.Connection, token_hash: str, now: datetime
) -> SessionRecord | None:
    row = await conn.fetchrow(
        f"SELECT {SESSION_COLS} FROM account_sessions WHERE token_hash = $1 AND expires_at > $2",
        token_hash,
        now,
    )
    return None if row is None else SessionRecord(**dict(row))


async def end_session(conn: asyncpg.Connection, token_hash: str) -> None:
    await conn.execute("DELETE FROM account_sessions WHERE token_hash = $1", token_hash)


async def end_sessions_of(conn: asyncpg.Connection, account_id: str) -> int:
    status = await conn.execute("DELETE FROM account_sessions WHERE account_id = $1", account_id)
    return int(status.split()[-1])


# -- trio side --------------------------------------------------------------------------------


class PgSelfServiceMixin:
    """The self-service methods of PostgresStore (which supplies `_run`)."""

    _run: Callable[..., Awaitable[Any]]

    async def create_invite_code(
        self, max_uses: int, expires_at: datetime, note: str = ""
    ) -> tuple[InviteCode, str]:
        uses = v.integer(max_uses, "max_uses", low=1, high=MAX_INVITE_USES)
        expiry = v.timestamp(expires_at, "expires_at")
        text = "" if note == "" else v.name(note, "note")
        return cast(tuple[InviteCode, str], await self._run(create_invite_code, uses, expiry, text))

    async def list_invite_codes(self, limit: int = 1000) -> list[InviteCode]:
        return cast(list[InviteCode], await self._run(list_invite_codes, v.limit(limit)))

    async def revoke_invite_code(self, code_id: str) -> InviteCode:
        return cast(InviteCode, await self._run(revoke_invite_code, v.ident(code_id, "code_id")))

    async def sign_up(
        self, raw_code: str, login: str, password_hash: str, now: datetime
    ) -> Account:
        name = v.name(login, "login").lower()
        hashed = v.text(password_hash, "password_hash", max_len=MAX_PASSWORD_HASH_LEN)
        at = v.timestamp(now, "now")
        code_hash = (
            hash_secret(raw_code) if plausible_secret(raw_code, INVITE_CODE_PREFIX) else None
        )
        return cast(Account, await self._run(sign_up, code_hash, name, hashed, at))

    async def get_login(self, login: str) -> LoginRecord | None:
        name = v.name(login, "login").lower()
        return cast(LoginRecord | None, await self._run(get_login, "login", name))

    async def get_login_of(self, account_id: str) -> LoginRecord | None:
        account = v.ident(account_id, "account_id")
        return cast(LoginRecord | None, await self._run(get_login, "account_id", account))

    async def change_password(
        self, account_id: str, password_hash: str, keep_session_id: str | None
    ) -> int:
        args = (
            v.ident(account_id, "account_id"),
            v.text(password_hash, "password_hash", max_len=MAX_PASSWORD_HASH_LEN),
            v.optional_ident(keep_session_id, "keep_session_id"),
        )
        return cast(int, await self._run(change_password, *args))

    async def create_session(
        self, account_id: str, csrf_token: str, expires_at: datetime
    ) -> tuple[SessionRecord, str]:
        args = (
            v.ident(account_id, "account_id"),
            v.ident(csrf_token, "csrf_token"),
            v.timestamp(expires_at, "expires_at"),
        )
        return cast(tuple[SessionRecord, str], await self._run(create_session, *args))

    async def get_session(self, raw_token: str, now: datetime) -> SessionRecord | None:
        at = v.timestamp(now, "now")
        if not plausible_secret(raw_token, SESSION_TOKEN_PREFIX):
            await trio.lowlevel.checkpoint()
            return None
        result = await self._run(get_session, hash_secret(raw_token), at)
        return cast(SessionRecord | None, result)

    async def end_session(self, raw_token: str) -> None:
        if not plausible_secret(raw_token, SESSION_TOKEN_PREFIX):
            await trio.lowlevel.checkpoint()
            return
        await self._run(end_session, hash_secret(raw_token))

    async def end_sessions_of(self, account_id: str) -> int:
        return cast(int, await self._run(end_sessions_of, v.ident(account_id, "account_id")))

    async def create_account_key(self, account_id: str, name: str) -> tuple[ApiKeyRecord, str]:
        args = (v.ident(account_id, "account_id"), v.name(name))
        return cast(tuple[ApiKeyRecord, str], await self._run(q.create_secret, ACCOUNT_KEYS, *args))

    async def lookup_account_key(self, raw_key: str) -> ApiKeyRecord | None:
        if not plausible_secret(raw_key, ACCOUNT_KEY_PREFIX):
            await trio.lowlevel.checkpoint()
            return None
        return cast(ApiKeyRecord | None, await self._run(q.lookup_secret, ACCOUNT_KEYS, raw_key))

    async def list_account_keys(self, account_id: str) -> list[ApiKeyRecord]:
        account = v.ident(account_id, "account_id")
        return cast(list[ApiKeyRecord], await self._run(q.list_secrets, ACCOUNT_KEYS, account))

    async def revoke_account_key(self, key_id: str) -> ApiKeyRecord:
        key = v.ident(key_id, "key_id")
        return cast(ApiKeyRecord, await self._run(q.revoke_secret, ACCOUNT_KEYS, key))

    async def rename_account_key(self, key_id: str, name: str) -> ApiKeyRecord:
        args = (ACCOUNT_KEYS, v.ident(key_id, "key_id"), v.name(name))
        return cast(ApiKeyRecord, await self._run(q.rename_secret, *args))

    async def rename_api_key(self, key_id: str, name: str) -> ApiKeyRecord:
        args = (q.API_KEYS, v.ident(key_id, "key_id"), v.name(name))
        return cast(ApiKeyRecord, await self._run(q.rename_secret, *args))
