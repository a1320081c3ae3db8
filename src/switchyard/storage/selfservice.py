"""The self-service part of the Store contract: invite codes, logins (and changing a
passphrase), sessions, account-management keys, and renaming keys (README, "Self-service").

Secrets (invite codes, session tokens, management keys) are stored only as SHA-256 hashes,
like API keys; a passphrase only as the Argon2id hash the caller computed. The conventions
of `protocol.py` hold: `get_*`/`lookup_*` return None when absent, other methods raise a
`NotFound` subclass, arguments are validated the same way by both stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .errors import NotFound, StoreError
from .models import Account, ApiKeyRecord

INVITE_CODE_PREFIX = "inv-sy-"
SESSION_TOKEN_PREFIX = "ss-sy-"
ACCOUNT_KEY_PREFIX = "ak-sy-"
MAX_INVITE_USES = 10_000
MAX_SESSIONS_PER_ACCOUNT = 20  # a new session beyond this ends the account's oldest one
MAX_PASSWORD_HASH_LEN = 512


class InviteRefused(StoreError):
    """The invite code is unknown, revoked, expired or used up (the message says which)."""


class UnknownInviteCode(NotFound):
    """No invite code with that id."""


class LoginTaken(StoreError):
    """Another account already signs in with that login name."""


class UnknownLogin(NotFound):
    """The account has no login (an operator made it), or there is no such account."""


@dataclass(frozen=True, slots=True)
class InviteCode:
    """An operator's invite: `max_uses` sign-ups until `expires_at`, unless revoked."""

    id: str
    prefix: str
    note: str
    max_uses: int
    uses: int
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None

    def refusal(self, now: datetime) -> str | None:
        """Why a sign-up with this code is refused at `now`, or None when it is usable."""
        if self.revoked_at is not None:
            return "this invite code was revoked"
        if now >= self.expires_at:
            return "this invite code has expired"
        if self.uses >= self.max_uses:
            return "this invite code is used up"
        return None


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """How an account signs in: a unique, lower-cased login name and a passphrase hash."""

    login: str
    account_id: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A signed-in browser (or curl cookie jar); its raw token is only in the cookie.

    `csrf_token` is the session-bound token state-changing requests must echo."""

    id: str
    account_id: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


class SelfServiceStore(Protocol):
    """Invite codes, sign-up, logins, sessions, account-management keys."""

    async def create_invite_code(
        self, max_uses: int, expires_at: datetime, note: str = ""
    ) -> tuple[InviteCode, str]:
        """Mint an invite code (`inv-sy-…`); returns (record, raw code) once."""

    async def list_invite_codes(self, limit: int = 1000) -> list[InviteCode]:
        """The newest invite codes first (revoked and expired ones included)."""

    async def revoke_invite_code(self, code_id: str) -> InviteCode:
        """Revoke (idempotent); `UnknownInviteCode` for an unknown id."""

    async def sign_up(
        self, raw_code: str, login: str, password_hash: str, now: datetime
    ) -> Account:
        """In one transaction: take one use of the invite code, create an account named
        `login` and its login. `InviteRefused` when the code cannot be used at `now`,
        `LoginTaken` when the (lower-cased) login exists; either way nothing changes."""

    async def get_login(self, login: str) -> LoginRecord | None:
        """The login of that (case-insensitive) name, or None."""

    async def get_login_of(self, account_id: str) -> LoginRecord | None:
        """The login of an account, or None (accounts made by an operator have none)."""

    async def change_password(
        self, account_id: str, password_hash: str, keep_session_id: str | None
    ) -> int:
        """In one transaction: replace the account's passphrase hash and end every session
        of the account except the one whose id is `keep_session_id` (None: end them all).
        Returns how many sessions ended; `UnknownLogin` when the account has no login."""

    async def create_session(
        self, account_id: str, csrf_token: str, expires_at: datetime
    ) -> tuple[SessionRecord, str]:
        """Start a session (`ss-sy-…` token, stored hashed); returns (record, raw token).
        Drops the account's expired sessions and, past `MAX_SESSIONS_PER_ACCOUNT`, its
        oldest ones."""

    async def get_session(self, raw_token: str, now: datetime) -> SessionRecord | None:
        """The live session of a presented token, or None (unknown, malformed, expired)."""

    async def end_session(self, raw_token: str) -> None:
        """Forget the session (no-op when unknown)."""

    async def end_sessions_of(self, account_id: str) -> int:
        """Forget every session of an account; how many there were."""

    async def create_account_key(self, account_id: str, name: str) -> tuple[ApiKeyRecord, str]:
        """Mint an account-management key (`ak-sy-…`): it acts for the account on the
        self-service API, never on the inference API. Returns (record, raw key) once."""

    async def lookup_account_key(self, raw_key: str) -> ApiKeyRecord | None:
        """The live management key presented, or None."""

    async def list_account_keys(self, account_id: str) -> list[ApiKeyRecord]:
        """An account's management keys, revoked ones included, oldest first."""

    async def revoke_account_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke (idempotent); `UnknownApiKey` for an unknown id."""

    async def rename_account_key(self, key_id: str, name: str) -> ApiKeyRecord:
        """Give a management key a new name (revoked or not); `UnknownApiKey` if unknown."""

    async def rename_api_key(self, key_id: str, name: str) -> ApiKeyRecord:
        """Give an API key a new name (revoked or not); `UnknownApiKey` if unknown."""
