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


def test_the_stored_responses_bounds_are_read_and_positive() -> None:
    settings = from_env(
        {
            "SWITCHYARD_RESPONSES_RETENTION_S": "3600",
            "SWITCHYARD_RESPONSES_MAX_PER_ACCOUNT": "5",
            "SWITCHYARD_RESPONSES_MAX_BYTES_PER_ACCOUNT": "1048576",
        }
    )
    assert settings.responses_retention_s == 3600
    assert (settings.responses_max_per_account, settings.responses_max_bytes_per_account) == (
        5,
        1_048_576,
    )
    assert Settings().responses_retention_s == 30 * 86_400
    with pytest.raises(ValueError, match="SWITCHYARD_RESPONSES_MAX_PER_ACCOUNT"):
        from_env({"SWITCHYARD_RESPONSES_MAX_PER_ACCOUNT": "0"})


def test_booleans_take_the_usual_spellings_and_refuse_others() -> None:
    assert from_env({"SWITCHYARD_COOKIE_SECURE": "false"}).cookie_secure is False
    assert from_env({"SWITCHYARD_COOKIE_SECURE": "On"}).cookie_secure is True
    assert from_env({}).cookie_secure is True
    assert from_env({"SWITCHYARD_SESSION_TTL_S": "3600"}).session_ttl_s == 3600
    with pytest.raises(ValueError):
        from_env({"SWITCHYARD_COOKIE_SECURE": "maybe"})


def test_cluster_settings_come_from_the_environment_and_are_checked() -> None:
    settings = from_env(
        {
            "SWITCHYARD_NATS_URL": "nats://127.0.0.1:4222",
            "SWITCHYARD_DATABASE_URL": "postgresql://x@127.0.0.1/db",
            "SWITCHYARD_REPLICA_ID": "a-1",
            "SWITCHYARD_CLUSTER_NAME": "prod_eu",
        }
    )
    assert (settings.nats_url, settings.replica_id, settings.cluster_name) == (
        "nats://127.0.0.1:4222",
        "a-1",
        "prod_eu",
    )
    assert settings.cluster_problem() is None
    assert Settings().nats_url is None and Settings().cluster_problem() is None
    no_db = settings.with_overrides(database_url="")
    assert "database-url" in (Settings(nats_url="nats://127.0.0.1:4222").cluster_problem() or "")
    assert no_db.cluster_problem() is not None
    assert "--replica-id" in (settings.with_overrides(replica_id="a.b").cluster_problem() or "")
    assert "--cluster-name" in (settings.with_overrides(cluster_name="a b").cluster_problem() or "")


def test_require_nats_and_the_nats_url_shape_are_checked() -> None:
    cluster = Settings(nats_url="nats://127.0.0.1:4222", database_url="postgresql://x@h/db")
    assert cluster.require_nats is False  # default: start degraded without NATS
    assert from_env({"SWITCHYARD_REQUIRE_NATS": "1"}).require_nats is True
    assert cluster.with_overrides(require_nats=True).cluster_problem() is None
    assert "--require-nats needs --nats-url" in (
        Settings(require_nats=True).cluster_problem() or ""
    )
    for url in ("tls://u:p@nats.internal", "wss://nats.example:443/", "nats://[::1]:4222"):
        assert cluster.with_overrides(nats_url=url).cluster_problem() is None, url
    for url in ("nats://h:port", "http://h:4222", "nats://a:1,nats://b:2", "nats://", "h:4222"):
        problem = cluster.with_overrides(nats_url=url).cluster_problem() or ""
        assert "--nats-url must look like nats://HOST:PORT" in problem, url
