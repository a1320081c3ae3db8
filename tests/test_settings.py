"""Settings from `SWITCHYARD_*` variables: typed, empty means unset, flags win."""

from __future__ import annotations

import pytest

from switchyard.settings import Settings, from_env


def test_variables_are_parsed_into_their_types() -> None:
    settings = from_env(
        {
            "SWITCHYARD_REQUEST_TIMEOUT_S": "12.5",
            "SWITCHYARD_SEND_TIMEOUT_S": "7",
            "SWITCHYARD_DEFAULT_RPM": "60",
            "SWITCHYARD_ADMIN_KEY": "k",
            "SWITCHYARD_DATABASE_URL": "",
        }
    )
    assert settings.request_timeout_s == 12.5
    assert settings.send_timeout_s == 7.0
    assert settings.default_rpm == 60
    assert settings.admin_key == "k"
    assert settings.database_url == Settings().database_url  # empty means unset


def test_flags_win_over_variables() -> None:
    settings = from_env({"SWITCHYARD_PORT": "9000"}).with_overrides(port=9100, host=None)
    assert settings.port == 9100
    assert settings.host == Settings().host


def test_a_malformed_number_is_an_error() -> None:
    with pytest.raises(ValueError):
        from_env({"SWITCHYARD_REQUEST_TIMEOUT_S": "soon"})


def test_lists_are_comma_separated() -> None:
    settings = from_env(
        {
            "SWITCHYARD_CORS_ORIGINS": "https://a.example, https://b.example,,",
            "SWITCHYARD_HEADER_TIMEOUT_S": "2.5",
        }
    )
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.header_timeout_s == 2.5
    assert Settings().cors_origins == ()


def test_the_max_tokens_cap_is_read_and_bounded() -> None:
    settings = from_env({"SWITCHYARD_DEFAULT_MAX_TOKENS_CAP": "8192"})
    assert settings.default_max_tokens_cap == 8192
    assert Settings().default_max_tokens_cap == 32_768
    for bad in ("0", "1000001"):
        with pytest.raises(ValueError, match="SWITCHYARD_DEFAULT_MAX_TOKENS_CAP"):
            from_env({"SWITCHYARD_DEFAULT_MAX_TOKENS_CAP": bad})


def test_booleans_take_the_usual_spellings_and_refuse_others() -> None:
    assert from_env({"SWITCHYARD_COOKIE_SECURE": "false"}).cookie_secure is False
    assert from_env({"SWITCHYARD_COOKIE_SECURE": "On"}).cookie_secure is True
    assert from_env({}).cookie_secure is True
    assert from_env({"SWITCHYARD_SESSION_TTL_S": "3600"}).session_ttl_s == 3600
    with pytest.raises(ValueError):
        from_env({"SWITCHYARD_COOKIE_SECURE": "maybe"})
