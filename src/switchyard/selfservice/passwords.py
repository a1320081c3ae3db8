"""Passphrases: Argon2id hashes (argon2-cffi), computed off the event loop, bounded.

Parameters are the OWASP minimum for Argon2id (19 MiB, 2 passes, 1 lane); `argon2-cffi`
encodes them in each hash, so raising them later re-hashes nothing and old hashes still
verify. Hashing runs in a worker thread behind a `trio.CapacityLimiter`, so at most
`PASSWORD_HASH_CONCURRENCY` hashes use memory and CPU at once.
"""

from __future__ import annotations

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..protocol.errors import invalid_request
from ..protocol.limits import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PASSWORD_HASH_CONCURRENCY

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def check_password(password: str, param: str = "password") -> str:
    """The passphrase if its length is acceptable, else a 400 naming `param`."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise invalid_request(
            f"The passphrase must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.",
            param=param,
        )
    return password


class Passwords:
    """Hash and verify passphrases; one per coordinator (it owns the limiter)."""

    def __init__(self, concurrency: int = PASSWORD_HASH_CONCURRENCY) -> None:
        self._limiter = trio.CapacityLimiter(concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The Argon2id hash (PHC string) of `password`."""
        return await trio.to_thread.run_sync(_HASHER.hash, password, limiter=self._limiter)

    async def verify(self, hashed: str | None, password: str) -> bool:
        """True when `password` matches `hashed`. With `hashed` None (no such login) it
        verifies against a dummy hash anyway, so both answers take the same time."""
        if hashed is None:
            if self._dummy is None:
                self._dummy = await self.hash("switchyard-dummy-passphrase")
            hashed = self._dummy
            password = password + "\x00"  # never matches the dummy

        def verify() -> bool:
            try:
                return _HASHER.verify(hashed, password)
            except (VerificationError, InvalidHashError):
                return False

        return await trio.to_thread.run_sync(verify, limiter=self._limiter)
