"""An account's own keys: API keys (create with name and limits, list, rename, set
limits, revoke) and account-management keys (create, list, rename, revoke).

Per-key limits must be at or below the account's: the coordinator's defaults
(`SWITCHYARD_DEFAULT_RPM` / `_TPM`; none when unlimited); a key without its own limit
uses the account's. An account holds at most `MAX_KEYS_PER_ACCOUNT` live keys of each
kind. A key of another account is answered exactly like a missing one: 404. A revoked
key keeps its name and limits: renaming it or changing its limits is a 409.
"""

from __future__ import annotations

from typing import Any

from ..protocol.errors import ApiError, conflict, invalid_request, not_found
from ..protocol.limits import MAX_KEYS_PER_ACCOUNT
from ..protocol.vocabulary import ApiErrorCode
from ..settings import Settings
from ..storage.models import ApiKeyRecord, KeyLimits
from ..storage.protocol import Store


def account_limits(settings: Settings) -> KeyLimits:
    """The account's own limits (None: unlimited)."""
    return KeyLimits(settings.default_rpm, settings.default_tpm)


def check_key_limits(wanted: KeyLimits, ceiling: KeyLimits) -> KeyLimits:
    """`wanted` if each limit is at or below the account's; a 400 naming it otherwise."""
    for name in ("rpm", "tpm"):
        value, top = getattr(wanted, name), getattr(ceiling, name)
        if value is not None and top is not None and value > top:
            raise invalid_request(
                f"{name} may be at most the account's limit, {top}.",
                param=name,
                code=ApiErrorCode.LIMIT_EXCEEDED,
            )
    return wanted


def key_json(
    record: ApiKeyRecord, limits: KeyLimits | None = None, raw: str | None = None
) -> dict[str, Any]:
    """A key as the API shows it (`key`, the raw secret, only when just created)."""
    body: dict[str, Any] = {"id": record.id}
    if raw is not None:
        body["key"] = raw
    body.update(
        {
            "name": record.name,
            "prefix": record.prefix,
            "created_at": record.created_at.isoformat(),
            "last_used_at": None
            if record.last_used_at is None
            else record.last_used_at.isoformat(),
            "revoked": record.revoked,
        }
    )
    if limits is not None:
        body.update({"rpm": limits.rpm, "tpm": limits.tpm})
    return body


def _too_many(kind: str) -> ApiError:
    return conflict(
        f"An account may hold at most {MAX_KEYS_PER_ACCOUNT} live {kind}; revoke one first.",
        code=ApiErrorCode.LIMIT_EXCEEDED,
    )


def _key_not_found(key_id: str) -> ApiError:
    return not_found(f"No key {key_id!r} in this account.")


async def create_api_key(
    store: Store, settings: Settings, account_id: str, name: str, limits: KeyLimits
) -> dict[str, Any]:
    """A new API key of the account (raw key in the reply, once)."""
    check_key_limits(limits, account_limits(settings))
    live = [k for k in await store.list_api_keys(account_id) if not k.revoked]
    if len(live) >= MAX_KEYS_PER_ACCOUNT:
        raise _too_many("API keys")
    record, raw = await store.create_api_key(account_id, name)
    if limits != KeyLimits():
        await store.set_api_key_limits(record.id, limits)
    return key_json(record, limits, raw)


async def list_api_keys(store: Store, account_id: str) -> list[dict[str, Any]]:
    """The account's API keys, oldest first; limits shown for live keys."""
    keys = await store.list_api_keys(account_id)
    return [key_json(k, None if k.revoked else await store.get_api_key_limits(k.id)) for k in keys]


async def own_api_key(store: Store, account_id: str, key_id: str) -> ApiKeyRecord:
    """The account's API key `key_id` (404 if absent or another account's)."""
    for key in await store.list_api_keys(account_id):
        if key.id == key_id:
            return key
    raise _key_not_found(key_id)


def _revoked() -> ApiError:
    return conflict("This key is revoked.")


async def rename_api_key(store: Store, account_id: str, key_id: str, name: str) -> dict[str, Any]:
    """Give a live key of the account a new name (the same rules as at creation)."""
    key = await own_api_key(store, account_id, key_id)
    if key.revoked:
        raise _revoked()
    renamed = await store.rename_api_key(key.id, name)
    return key_json(renamed, await store.get_api_key_limits(key.id))


async def set_api_key_limits(
    store: Store, settings: Settings, account_id: str, key_id: str, limits: KeyLimits
) -> dict[str, Any]:
    """Change a live key's limits (null: the account's)."""
    key = await own_api_key(store, account_id, key_id)
    if key.revoked:
        raise _revoked()
    check_key_limits(limits, account_limits(settings))
    saved = await store.set_api_key_limits(key.id, limits)
    return key_json(key, saved)


async def revoke_api_key(store: Store, account_id: str, key_id: str) -> dict[str, Any]:
    """Revoke the account's key (idempotent); it stops working within the key-cache TTL."""
    await own_api_key(store, account_id, key_id)
    return key_json(await store.revoke_api_key(key_id))


async def create_management_key(store: Store, account_id: str, name: str) -> dict[str, Any]:
    """A new account-management key (raw key in the reply, once)."""
    live = [k for k in await store.list_account_keys(account_id) if not k.revoked]
    if len(live) >= MAX_KEYS_PER_ACCOUNT:
        raise _too_many("management keys")
    record, raw = await store.create_account_key(account_id, name)
    return key_json(record, raw=raw)


async def list_management_keys(store: Store, account_id: str) -> list[dict[str, Any]]:
    """The account's management keys, oldest first."""
    return [key_json(k) for k in await store.list_account_keys(account_id)]


async def own_management_key(store: Store, account_id: str, key_id: str) -> ApiKeyRecord:
    """The account's management key `key_id` (404 if absent or another account's)."""
    for key in await store.list_account_keys(account_id):
        if key.id == key_id:
            return key
    raise _key_not_found(key_id)


async def rename_management_key(
    store: Store, account_id: str, key_id: str, name: str
) -> dict[str, Any]:
    """Give a live management key of the account a new name."""
    key = await own_management_key(store, account_id, key_id)
    if key.revoked:
        raise _revoked()
    return key_json(await store.rename_account_key(key.id, name))


async def revoke_management_key(store: Store, account_id: str, key_id: str) -> dict[str, Any]:
    """Revoke one of the account's management keys (at once)."""
    await own_management_key(store, account_id, key_id)
    return key_json(await store.revoke_account_key(key_id))
