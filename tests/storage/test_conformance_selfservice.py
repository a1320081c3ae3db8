"""SelfServiceStore conformance, on both stores: invite codes, sign-up, logins, sessions,
account-management keys, changing a passphrase, renaming keys."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import trio

from switchyard.storage import InvalidInput, Store
from switchyard.storage.errors import UnknownAccount, UnknownApiKey
from switchyard.storage.models import utc_now
from switchyard.storage.selfservice import (
    MAX_SESSIONS_PER_ACCOUNT,
    InviteRefused,
    LoginTaken,
    UnknownInviteCode,
    UnknownLogin,
)

HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def later(days: float = 1) -> object:
    return utc_now() + timedelta(days=days)


async def test_invite_codes_are_minted_listed_and_revoked(store: Store) -> None:
    code, raw = await store.create_invite_code(3, later(), "beta")
    assert raw.startswith("inv-sy-") and raw.startswith(code.prefix)
    assert (code.max_uses, code.uses, code.note, code.revoked_at) == (3, 0, "beta", None)
    assert code.refusal(utc_now()) is None
    second, _ = await store.create_invite_code(1, later())
    listed = await store.list_invite_codes()
    assert [c.id for c in listed] == [second.id, code.id]  # newest first
    assert [c.id for c in await store.list_invite_codes(limit=1)] == [second.id]
    revoked = await store.revoke_invite_code(code.id)
    again = await store.revoke_invite_code(code.id)
    assert revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    with pytest.raises(UnknownInviteCode):
        await store.revoke_invite_code("inv_missing")
    with pytest.raises(InvalidInput):
        await store.create_invite_code(0, later())
    with pytest.raises(InvalidInput):
        await store.create_invite_code(1, later(), "x" * 201)


async def test_sign_up_takes_one_use_and_creates_account_and_login(store: Store) -> None:
    code, raw = await store.create_invite_code(2, later())
    account = await store.sign_up(raw, "Alice", HASH, utc_now())
    assert account.name == "alice" and account.balance_micro_usd == 0
    assert await store.get_account(account.id) == account
    login = await store.get_login("ALICE")
    assert login is not None and (login.account_id, login.password_hash) == (account.id, HASH)
    assert await store.get_login_of(account.id) == login
    assert await store.get_login("bob") is None
    plain = await store.create_account("operator-made")
    assert await store.get_login_of(plain.id) is None
    with pytest.raises(LoginTaken):
        await store.sign_up(raw, "aLiCe", HASH, utc_now())
    assert (await store.list_invite_codes())[0].uses == 1  # a refused sign-up takes no use
    await store.sign_up(raw, "bob", HASH, utc_now())
    with pytest.raises(InviteRefused, match="used up"):
        await store.sign_up(raw, "carol", HASH, utc_now())
    assert await store.get_login("carol") is None
    assert (await store.list_invite_codes())[0].uses == 2 == code.max_uses


async def test_expired_revoked_and_unknown_codes_are_refused(store: Store) -> None:
    _, expired = await store.create_invite_code(5, utc_now() + timedelta(seconds=1))
    with pytest.raises(InviteRefused, match="expired"):
        await store.sign_up(expired, "late", HASH, utc_now() + timedelta(seconds=2))
    code, revoked = await store.create_invite_code(5, later())
    await store.revoke_invite_code(code.id)
    with pytest.raises(InviteRefused, match="revoked"):
        await store.sign_up(revoked, "nope", HASH, utc_now())
    for bogus in ("inv-sy-nothing", "", "sk-sy-xxxxxxxxxxxx", "inv-sy-" + "a" * 500):
        with pytest.raises(InviteRefused, match="unknown"):
            await store.sign_up(bogus, "nope", HASH, utc_now())
    assert len(await store.list_accounts()) == 0


async def test_concurrent_sign_ups_never_exceed_the_uses(store: Store) -> None:
    _, raw = await store.create_invite_code(3, later())
    outcomes: list[str] = []

    async def attempt(i: int) -> None:
        try:
            await store.sign_up(raw, f"user{i}", HASH, utc_now())
            outcomes.append("ok")
        except InviteRefused:
            outcomes.append("refused")

    async with trio.open_nursery() as nursery:
        for i in range(8):
            nursery.start_soon(attempt, i)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert (await store.list_invite_codes())[0].uses == 3


async def test_sessions_resolve_expire_end_and_are_capped(store: Store) -> None:
    _, raw_code = await store.create_invite_code(1, later())
    account = await store.sign_up(raw_code, "sess", HASH, utc_now())
    session, raw = await store.create_session(account.id, "csrf-1", later())
    assert raw.startswith("ss-sy-") and session.csrf_token == "csrf-1"
    assert await store.get_session(raw, utc_now()) == session
    assert await store.get_session(raw, utc_now() + timedelta(days=2)) is None  # expired
    for bogus in ("ss-sy-unknown", "", "x" * 1000):
        assert await store.get_session(bogus, utc_now()) is None
    await store.end_session(raw)
    assert await store.get_session(raw, utc_now()) is None
    await store.end_session(raw)  # no-op
    raws = [(await store.create_session(account.id, f"c{i}", later()))[1] for i in range(25)]
    live = [r for r in raws if await store.get_session(r, utc_now()) is not None]
    assert live == raws[-MAX_SESSIONS_PER_ACCOUNT:]  # the oldest were ended
    assert await store.end_sessions_of(account.id) == MAX_SESSIONS_PER_ACCOUNT
    assert await store.get_session(raws[-1], utc_now()) is None
    with pytest.raises(UnknownAccount):
        await store.create_session("acct_missing", "c", later())


async def test_account_keys_live_apart_from_api_keys(store: Store) -> None:
    account = await store.create_account("mgmt")
    record, raw = await store.create_account_key(account.id, "ci")
    assert raw.startswith("ak-sy-") and record.name == "ci" and not record.revoked
    assert await store.lookup_account_key(raw) == record
    assert await store.lookup_api_key(raw) is None  # not an inference key
    _, api_raw = await store.create_api_key(account.id, "api")
    assert await store.lookup_account_key(api_raw) is None
    assert [k.id for k in await store.list_account_keys(account.id)] == [record.id]
    revoked = await store.revoke_account_key(record.id)
    assert revoked.revoked and await store.lookup_account_key(raw) is None
    assert [k.revoked for k in await store.list_account_keys(account.id)] == [True]
    with pytest.raises(UnknownApiKey):
        await store.revoke_account_key("mkey_missing")
    with pytest.raises(UnknownAccount):
        await store.create_account_key("acct_missing", "x")


async def test_changing_a_passphrase_ends_every_other_session(store: Store) -> None:
    _, raw_code = await store.create_invite_code(1, later())
    account = await store.sign_up(raw_code, "changer", HASH, utc_now())
    other = await store.create_account("bystander")
    kept, kept_raw = await store.create_session(account.id, "c-kept", later())
    others = [(await store.create_session(account.id, f"c{i}", later()))[1] for i in range(3)]
    _, bystander_raw = await store.create_session(other.id, "c-other", later())
    new_hash = HASH.replace("aGFzaGhh", "bmV3bmV3")
    assert await store.change_password(account.id, new_hash, kept.id) == 3
    login = await store.get_login("changer")
    assert login is not None and login.password_hash == new_hash
    assert await store.get_session(kept_raw, utc_now()) == kept
    assert [await store.get_session(r, utc_now()) for r in others] == [None] * 3
    assert await store.get_session(bystander_raw, utc_now()) is not None  # not this account
    assert await store.change_password(account.id, HASH, None) == 1  # None: all of them
    assert await store.get_session(kept_raw, utc_now()) is None
    with pytest.raises(UnknownLogin):
        await store.change_password(other.id, HASH, None)  # operator-made: no login
    with pytest.raises(InvalidInput):
        await store.change_password(account.id, "x" * 600, None)
    unchanged = await store.get_login("changer")
    assert unchanged is not None and unchanged.password_hash == HASH


async def test_api_and_management_keys_are_renamed(store: Store) -> None:
    account = await store.create_account("namer")
    api, api_raw = await store.create_api_key(account.id, "old")
    mgmt, _ = await store.create_account_key(account.id, "old-m")
    renamed = await store.rename_api_key(api.id, "laptop")
    assert renamed == dataclasses.replace(api, name="laptop")
    assert [k.name for k in await store.list_api_keys(account.id)] == ["laptop"]
    looked_up = await store.lookup_api_key(api_raw)
    assert looked_up is not None and looked_up.name == "laptop"
    assert (await store.rename_account_key(mgmt.id, "ci")).name == "ci"
    assert [k.name for k in await store.list_account_keys(account.id)] == ["ci"]
    await store.revoke_api_key(api.id)
    assert (await store.rename_api_key(api.id, "gone")).revoked  # revoked keys keep a name
    with pytest.raises(UnknownApiKey):
        await store.rename_api_key("key_missing", "x")
    with pytest.raises(UnknownApiKey):
        await store.rename_account_key(api.id, "x")  # an API key is no management key
    with pytest.raises(InvalidInput):
        await store.rename_api_key(api.id, "")
    with pytest.raises(InvalidInput):
        await store.rename_account_key(mgmt.id, "x" * 201)
