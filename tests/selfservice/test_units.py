"""Pure pieces of self-service: user codes, report day ranges, the token file, CSRF
comparison, passphrase hashing."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest

from switchyard.agent.login import load_token, save_token
from switchyard.protocol.errors import ApiError
from switchyard.selfservice.csrf import new_csrf_token, tokens_match
from switchyard.selfservice.device import ALPHABET, new_user_code, normalize_user_code
from switchyard.selfservice.passwords import Passwords, check_password
from switchyard.selfservice.views import day_range

TODAY = date(2026, 3, 10)


def test_user_codes_are_drawn_from_the_alphabet_and_typed_forgivingly() -> None:
    for _ in range(50):
        code = new_user_code()
        assert len(code) == 9 and code[4] == "-"
        assert set(code.replace("-", "")) <= set(ALPHABET)
    assert normalize_user_code(" bcdf ghjk ") == "BCDF-GHJK"
    assert normalize_user_code("BCDFGHJK") == "BCDF-GHJK"
    for bad in ("BCDF-GHJ", "ABCD-EFGH", "BCDF-GHJK-L", "", "bcdf_ghjk"):
        with pytest.raises(ApiError) as caught:
            normalize_user_code(bad)
        assert caught.value.status == 400 and caught.value.param == "user_code"


def test_day_ranges_default_days_and_dates() -> None:
    assert day_range({}, TODAY).json() == {"since": "2026-02-09", "until": "2026-03-10"}
    one = day_range({"days": "1"}, TODAY)
    assert (one.first, one.last) == (TODAY, TODAY)
    assert one.until.isoformat() == "2026-03-11T00:00:00+00:00"
    only_since = day_range({"since": "2026-03-01"}, TODAY)
    assert (only_since.first, only_since.last) == (date(2026, 3, 1), TODAY)
    only_until = day_range({"until": "2026-01-05"}, TODAY)
    assert only_until.first == only_until.last == date(2026, 1, 5)
    for bad in ({"days": "-1"}, {"days": "1.5"}, {"since": "2025-01-01"}, {"until": "x"}):
        with pytest.raises(ApiError):
            day_range(bad, TODAY)


def test_token_file_is_private_and_tightened(tmp_path: Path) -> None:
    path = save_token("pt-sy-secret", tmp_path / "dir" / "token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_token(path) == "pt-sy-secret"
    path.chmod(0o644)
    assert load_token(path) == "pt-sy-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_token(tmp_path / "missing") is None
    save_token("pt-sy-newer", path)  # replaced atomically
    assert load_token(path) == "pt-sy-newer"
    assert [p.name for p in path.parent.iterdir()] == ["token"]


def test_csrf_tokens_compare_in_full() -> None:
    token = new_csrf_token()
    assert tokens_match(token, token)
    assert not tokens_match(token, token[:-1])
    assert not tokens_match(None, token) and not tokens_match(token, None)
    assert not tokens_match("", "")
    assert new_csrf_token() != token


async def test_passphrases_hash_and_verify_off_the_loop() -> None:
    passwords = Passwords()
    hashed = await passwords.hash("a long passphrase")
    assert hashed.startswith("$argon2id$") and "a long passphrase" not in hashed
    assert await passwords.verify(hashed, "a long passphrase")
    assert not await passwords.verify(hashed, "a long passphrasE")
    assert not await passwords.verify("not-a-hash", "a long passphrase")
    assert not await passwords.verify(None, "switchyard-dummy-passphrase")
    assert check_password("ten chars!") == "ten chars!"
    with pytest.raises(ApiError):
        check_password("too short")
