"""Agent configuration (`AgentConfig`), the coordinator URL rule, the `--models` and
`--capability` syntax, and backend construction."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from switchyard.protocol.vocabulary import Capability, Support

from .backend import Backend, ModelInfo
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
    `model_map` maps an advertised id to the upstream's own model name. `model_context`
    (per advertised id) and `capabilities` (per id, "" for every model) are declared by
    the operator and win over what the backend reports (`declare`). The openai backend's
    upstream is probed every `health_interval_s` (see health.py); `health_url` overrides
    which URL. `coordinator` may list several replicas of one cluster, comma-separated
    (`coordinators`): the agent dials the first and, whenever a connection ends, the next
    one (round robin), so it fails over to a live replica when its own dies.
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
    model_context: dict[str, int] = field(default_factory=dict)
    capabilities: dict[str, dict[Capability, Support]] = field(default_factory=dict)
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
        for url in self.coordinators:
            websocket_url(url)

    @property
    def coordinators(self) -> tuple[str, ...]:
        """The coordinator URLs, in the order they are tried (at least one)."""
        urls = tuple(u.strip() for u in self.coordinator.split(",") if u.strip())
        if not urls:
            raise ValueError("coordinator URL must be http(s)://host[:port], got ''")
        return urls


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


_CONTEXT_SUFFIX = re.compile(r"^(?P<name>.*\S):(?P<ctx>\d+)$")


def parse_models(spec: str) -> tuple[tuple[str, ...], dict[str, str], dict[str, int]]:
    """`"a,b=upstream-name:8192,c:4096"` → (("a", "b", "c"), {"b": "upstream-name"},
    {"b": 8192, "c": 4096}).

    A trailing `:<digits>` is the model's context length (tokens); other tags stay part of
    the name (`llama3.2:3b`). A name whose own tag is all digits needs the context after it.
    """
    ids: list[str] = []
    mapping: dict[str, str] = {}
    contexts: dict[str, int] = {}
    for item in spec.split(","):
        item = item.strip()
        context = None
        match = _CONTEXT_SUFFIX.match(item)
        if match:
            item, context = match["name"], int(match["ctx"])
            if context < 1:
                raise ValueError(f"model {item!r}: the context length must be at least 1")
        name, _, upstream = item.partition("=")
        name, upstream = name.strip(), upstream.strip()
        if not name:
            continue
        if name in ids:
            raise ValueError(f"model {name!r} listed twice")
        ids.append(name)
        if upstream:
            mapping[name] = upstream
        if context is not None:
            contexts[name] = context
    return tuple(ids), mapping, contexts


def parse_capabilities(specs: Iterable[str]) -> dict[str, dict[Capability, Support]]:
    """`--capability` values, `[MODEL@]CAP=VALUE[,CAP=VALUE...]`, by model ("" for all).

    `CAP` is a `Capability` (tools, vision, json_schema, reasoning, completions,
    embeddings), `VALUE` yes, no or unknown. Later declarations win.
    """
    declared: dict[str, dict[Capability, Support]] = {}
    for spec in specs:
        model, at, rest = spec.strip().rpartition("@")
        if at and not model.strip():
            raise ValueError(f"--capability {spec!r}: nothing before '@'")
        target = declared.setdefault(model.strip(), {})
        for item in rest.split(","):
            if not item.strip():
                continue
            word, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"--capability {spec!r}: expected CAPABILITY=yes|no|unknown")
            try:
                target[Capability(word.strip().lower())] = Support.parse(value)
            except ValueError:
                names = ", ".join(c.value for c in Capability)
                raise ValueError(
                    f"--capability {spec!r}: {word.strip()!r}={value.strip()!r} is not one of "
                    f"{names} = yes, no or unknown"
                ) from None
    return declared


def declare(info: ModelInfo, config: AgentConfig) -> ModelInfo:
    """`info` as the backend reported it, with the operator's declarations applied."""
    capabilities = dict(info.capabilities)
    capabilities.update(config.capabilities.get("", {}))
    capabilities.update(config.capabilities.get(info.id, {}))
    context = config.model_context.get(info.id, info.context_length)
    return replace(info, context_length=context, capabilities=capabilities)


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
