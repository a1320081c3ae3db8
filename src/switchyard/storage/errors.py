"""Typed storage errors: the only exceptions a Store raises.

Both stores raise exactly these for the same conditions, so callers (billing, HTTP) map them
to responses without knowing the backend. Driver exceptions (asyncpg, OSError) never escape
a store; they are translated here into one of these, with the original chained as the cause.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error raised by a Store."""


class NotFound(StoreError):
    """The referenced object does not exist."""


class UnknownAccount(NotFound):
    """No account with that id."""


class UnknownHold(NotFound):
    """No hold for that request id."""


class UnknownApiKey(NotFound):
    """No API key with that id."""


class UnknownProviderToken(NotFound):
    """No provider token with that id."""


class UnknownProvider(NotFound):
    """No provider with that id."""


class InsufficientFunds(StoreError):
    """The balance (or earnings balance) cannot cover the debit; nothing was changed."""


class InvalidInput(StoreError):
    """An argument failed validation (type, sign, range, length or encoding)."""


class Conflict(StoreError):
    """The operation clashes with existing state, e.g. an idempotency key reused with
    different parameters, or a provider id owned by another account."""


class StoreUnavailable(StoreError):
    """The backend could not be reached or failed unexpectedly; the operation may be retried."""


class MigrationError(StoreError):
    """The database schema cannot be brought to the version this code expects."""
