"""Agent configuration (`AgentConfig`), the coordinator URL rule, and backend construction."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from .backend import Backend
from .health import UpstreamHealth, probe_urls
from .identity import DEFAULT_KEY_FILE
from .openai_backend import OpenAIBackend
from .simulated import SimulatedBackend, SimulatedConfig

CONNECT_PATH = "/v1/providers/connect"


def _agent_version() -> str:
    try:
        return version("switchyard")
    except PackageNotFoundError:
        return "0.0.0"


@dataclass
class AgentConfig:
    """Everything a provider agent needs; only `coordinator` and `token` are required.

    `models` are the ids advertised to the coordinator; empty means "ask the backend"
    (the simulated backend answers `sim-small`, the openai backend lists `<upstream>/models`).
    `model_map` maps an advertised id to the upstream's own model name. The openai
    backend's upstream is probed every `health_interval_s` (see health.py); `health_url`
    overrides which URL.
    """

    coordinator: str
    token: str
    backend: Literal["simulated", "openai"] = "simulated"
    models: tuple[str, ...] = ()
    slots: int = 4
    upstream: str | None = None
    upstream_api_key: str | None = None
    upstream_timeout_s: float = 300.0
    model_map: dict[str, str] = field(default_factory=dict)
    health_interval_s: float = 5.0
    health_timeout_s: float = 2.0
    health_url: str | None = None
    simulated: SimulatedConfig = field(default_factory=SimulatedConfig)
    key_file: Path = DEFAULT_KEY_FILE
    attestation_kind: str = "none"
    attestation_evidence: str = ""
    hardware: dict[str, str | int | float] = field(default_factory=dict)
    agent_version: str = field(default_factory=_agent_version)
    reconnect_base_s: float = 0.5
    reconnect_cap_s: float = 30.0
    max_reconnects: int | None = None
    connect_timeout_s: float = 10.0
    register_timeout_s: float = 10.0
    chunk_window_s: float = 0.005  # the outbox's packing window (see outbox.py)
    shutdown_grace_s: float = 30.0
    reconnect_after_drain: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.slots <= 1024:
            raise ValueError("slots must be between 1 and 1024")
        if self.backend == "openai" and not self.upstream:
            raise ValueError("the openai backend needs an upstream URL")
        if not (0 < self.reconnect_base_s <= self.reconnect_cap_s):
            raise ValueError("need 0 < reconnect_base_s <= reconnect_cap_s")
        if self.health_interval_s <= 0 or self.health_timeout_s <= 0:
            raise ValueError("health_interval_s and health_timeout_s must be > 0")
        if self.chunk_window_s < 0 or self.shutdown_grace_s < 0:
            raise ValueError("chunk_window_s and shutdown_grace_s must be >= 0")
        websocket_url(self.coordinator)


def websocket_url(coordinator: str) -> str:
    """`http(s)://host[:port][/prefix]` → `ws(s)://host[:port][/prefix]/v1/providers/connect`."""
    parts = urlsplit(coordinator.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"coordinator URL must be http(s)://host[:port], got {coordinator!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(CONNECT_PATH):
        path += CONNECT_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def parse_models(spec: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """`"a,b=upstream-name"` → (("a", "b"), {"b": "upstream-name"})."""
    ids: list[str] = []
    mapping: dict[str, str] = {}
    for item in spec.split(","):
        name, _, upstream = item.strip().partition("=")
        name, upstream = name.strip(), upstream.strip()
        if not name:
            continue
        if name in ids:
            raise ValueError(f"model {name!r} listed twice")
        ids.append(name)
        if upstream:
            mapping[name] = upstream
    return tuple(ids), mapping


def build_backend(config: AgentConfig) -> Backend:
    """The backend named by the config."""
    if config.backend == "openai":
        if not config.upstream:
            raise ValueError("the openai backend needs an upstream URL")
        return OpenAIBackend(
            config.upstream,
            api_key=config.upstream_api_key,
            model_map=config.model_map,
            timeout_s=config.upstream_timeout_s,
        )
    return SimulatedBackend(config.simulated, config.models or ("sim-small",))


def build_upstream_health(config: AgentConfig) -> UpstreamHealth:
    """The openai backend's upstream health checker; the simulated backend is never down."""
    if config.backend != "openai" or not config.upstream:
        return UpstreamHealth()
    headers = {"authorization": f"Bearer {config.upstream_api_key}"}
    return UpstreamHealth(
        probe_urls(config.upstream, config.health_url),
        interval_s=config.health_interval_s,
        timeout_s=config.health_timeout_s,
        headers=headers if config.upstream_api_key else None,
    )


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Capped exponential back-off with "equal jitter": half fixed, half random."""
    ceiling = min(cap, base * 2 ** min(attempt, 32))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
