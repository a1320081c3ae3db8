"""Coordinator settings: flags, then `SWITCHYARD_*` environment variables, then defaults.

The CLI builds a `Settings` from its flags and `from_env()`; tests build one directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .client_address import parse_trusted_proxies
from .cluster.ids import NAME_RE, nats_url_ok
from .protocol.limits import DEFAULT_MAX_BODY_BYTES, MAX_TOKENS_LIMIT


@dataclass(frozen=True)
class ProviderSettings:
    """Timers and limits of every provider connection (docs/ARCHITECTURE.md, "Invariants")."""

    heartbeat_interval_s: float = 5.0
    heartbeat_misses: int = 3  # no heartbeat for this many intervals → gone
    challenge_interval_s: float = 60.0
    challenge_jitter: float = 0.2  # ± fraction of the interval
    challenge_deadline_s: float = 10.0
    challenge_retry_s: float = 5.0  # after a miss, challenge again this soon
    max_missed_challenges: int = 3  # in a row → disconnect
    stream_buffer: int = 256  # stream items buffered per request before it is cancelled
    outbound_buffer: int = 1024  # frames buffered towards one provider socket
    enable_test_hardware: bool = False  # accept the `test-hardware` attestation kind
    test_hardware_secret: str = "switchyard-test-hardware"


@dataclass(frozen=True)
class Settings:
    """Everything the coordinator needs to start."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str | None = None
    database_schema: str | None = None  # Postgres schema to use (created if missing)
    admin_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # consumer bodies; see protocol/limits.py
    header_timeout_s: float = 10.0  # a request head must arrive within this (also keep-alive)
    cors_origins: tuple[str, ...] = ()  # browser origins allowed on /v1 ("*" for any)
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For names the client
    metrics_token: str | None = None  # bearer token GET /metrics requires (None: open)
    request_timeout_s: float = 300.0
    shutdown_grace_s: float = 30.0  # SIGTERM: how long running requests may finish
    reserve_timeout_s: float = 30.0  # how long a request may wait in the queue for a slot
    send_timeout_s: float = 30.0  # a socket write stalled this long closes the connection
    max_attempts: int = 3  # dispatch attempts before the first token (retries on others)
    key_cache_ttl_s: float = 2.0  # revoked API keys stop working within this
    platform_fee: float = 0.10
    default_rpm: int | None = 600  # requests per minute per API key (None: unlimited)
    default_tpm: int | None = 2_000_000  # tokens per minute per API key (None: unlimited)
    default_max_tokens_cap: int = 32_768  # without max_tokens: most output held (and sent)
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_tolerance_s: int = 300  # oldest Stripe-Signature timestamp accepted
    checkout_min_cents: int = 500  # bounds of one Stripe Checkout credit purchase
    checkout_max_cents: int = 100_000
    checkout_success_url: str | None = None  # None: this server's /v1/billing/checkout/success
    checkout_cancel_url: str | None = None  # None: this server's /v1/billing/checkout/cancel
    responses_retention_s: int = 30 * 86_400  # stored /v1/responses expire after this
    responses_max_per_account: int = 1_000  # stored responses kept per account (oldest go)
    responses_max_bytes_per_account: int = 256 * 2**20  # their total JSON per account
    session_ttl_s: int = 7 * 24 * 3600  # a dashboard/API session lasts this long from sign-in
    cookie_secure: bool = True  # session cookie `Secure`; false only for plain-HTTP dev setups
    nats_url: str | None = None  # cluster mode (needs database_url); None: one process
    replica_id: str | None = None  # this replica's name in the cluster; None: generated
    cluster_name: str = "switchyard"  # NATS subject / KV namespace shared by the replicas
    require_nats: bool = False  # NATS unreachable at start: exit (else start degraded)
    cluster_heartbeat_s: float = 1.0  # membership heartbeat period
    cluster_lapse_s: float = 2.5  # no heartbeat this long: the replica is dropped
    replicas: int = 1  # `serve --replicas N`: N processes on one port (see multiprocess.py)
    reuse_port: bool = False  # bind with SO_REUSEPORT (set for the children of --replicas)
    provider: ProviderSettings = field(default_factory=ProviderSettings)

    def __post_init__(self) -> None:
        for name in (
            "responses_retention_s", "responses_max_per_account", "responses_max_bytes_per_account"
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"SWITCHYARD_{name.upper()} must be at least 1")
        if not 1 <= self.default_max_tokens_cap <= MAX_TOKENS_LIMIT:
            raise ValueError(
                f"SWITCHYARD_DEFAULT_MAX_TOKENS_CAP must be between 1 and {MAX_TOKENS_LIMIT}"
            )
        parse_trusted_proxies(self.trusted_proxies)  # ValueError naming the variable

    def cluster_problem(self) -> str | None:
        """Why these cluster settings cannot run, or None when they can."""
        if self.nats_url and not self.database_url:
            return (
                "--nats-url (cluster mode) needs a Postgres --database-url: "
                "the replicas share accounts and money through it"
            )
        if self.require_nats and not self.nats_url:
            return "--require-nats needs --nats-url (cluster mode)"
        if self.nats_url and not nats_url_ok(self.nats_url):
            return "--nats-url must look like nats://HOST:PORT (or tls://, ws://, wss://)"
        names = (("--replica-id", self.replica_id), ("--cluster-name", self.cluster_name))
        for label, value in names:
            if value is not None and not NAME_RE.match(value):
                return f"{label} must be 1-64 letters, digits, '_' or '-'"
        return None

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the non-None `values` applied (how CLI flags win over the env)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


_ENV = {
    "database_url": "SWITCHYARD_DATABASE_URL",
    "database_schema": "SWITCHYARD_DATABASE_SCHEMA",
    "admin_key": "SWITCHYARD_ADMIN_KEY",
    "stripe_secret_key": "SWITCHYARD_STRIPE_SECRET_KEY",
    "stripe_webhook_secret": "SWITCHYARD_STRIPE_WEBHOOK_SECRET",
    "stripe_api_base": "SWITCHYARD_STRIPE_API_BASE",
    "stripe_webhook_tolerance_s": "SWITCHYARD_STRIPE_WEBHOOK_TOLERANCE_S",
    "checkout_min_cents": "SWITCHYARD_CHECKOUT_MIN_CENTS",
    "checkout_max_cents": "SWITCHYARD_CHECKOUT_MAX_CENTS",
    "checkout_success_url": "SWITCHYARD_CHECKOUT_SUCCESS_URL",
    "checkout_cancel_url": "SWITCHYARD_CHECKOUT_CANCEL_URL",
    "host": "SWITCHYARD_HOST",
    "port": "SWITCHYARD_PORT",
    "max_body_bytes": "SWITCHYARD_MAX_BODY_BYTES",
    "header_timeout_s": "SWITCHYARD_HEADER_TIMEOUT_S",
    "cors_origins": "SWITCHYARD_CORS_ORIGINS",
    "trusted_proxies": "SWITCHYARD_TRUSTED_PROXIES",
    "metrics_token": "SWITCHYARD_METRICS_TOKEN",
    "platform_fee": "SWITCHYARD_PLATFORM_FEE",
    "default_rpm": "SWITCHYARD_DEFAULT_RPM",
    "default_tpm": "SWITCHYARD_DEFAULT_TPM",
    "default_max_tokens_cap": "SWITCHYARD_DEFAULT_MAX_TOKENS_CAP",
    "request_timeout_s": "SWITCHYARD_REQUEST_TIMEOUT_S",
    "send_timeout_s": "SWITCHYARD_SEND_TIMEOUT_S",
    "responses_retention_s": "SWITCHYARD_RESPONSES_RETENTION_S",
    "responses_max_per_account": "SWITCHYARD_RESPONSES_MAX_PER_ACCOUNT",
    "responses_max_bytes_per_account": "SWITCHYARD_RESPONSES_MAX_BYTES_PER_ACCOUNT",
    "session_ttl_s": "SWITCHYARD_SESSION_TTL_S",
    "cookie_secure": "SWITCHYARD_COOKIE_SECURE",
    "nats_url": "SWITCHYARD_NATS_URL",
    "replica_id": "SWITCHYARD_REPLICA_ID",
    "cluster_name": "SWITCHYARD_CLUSTER_NAME",
    "require_nats": "SWITCHYARD_REQUIRE_NATS",
    "replicas": "SWITCHYARD_REPLICAS",
    "reuse_port": "SWITCHYARD_REUSE_PORT",
}
_FALSE = {"0", "false", "no", "off"}
_TRUE = {"1", "true", "yes", "on"}


def from_env(environ: dict[str, str] | None = None) -> Settings:
    """Defaults overridden by the `SWITCHYARD_*` variables that are set."""
    env = os.environ if environ is None else environ
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name, var in _ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        kind = str(types[name])
        if kind == "bool":
            if raw.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(f"{var} must be one of {sorted(_TRUE | _FALSE)}")
            values[name] = raw.strip().lower() in _TRUE
        elif kind.startswith("int"):
            values[name] = _number(int, var, raw)
        elif kind == "float":
            values[name] = _number(float, var, raw)
        elif kind.startswith("tuple"):  # comma-separated
            values[name] = tuple(item.strip() for item in raw.split(",") if item.strip())
        else:
            values[name] = raw
    return Settings(**values)


def _number(kind: type[int] | type[float], var: str, raw: str) -> int | float:
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{var} must be {what}, not {raw!r}") from None
