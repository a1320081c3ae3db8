"""Agent pieces without a coordinator: simulator, config rules, back-off."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from switchyard.agent import (
    AgentConfig,
    BackendError,
    ModelInfo,
    SimulatedBackend,
    SimulatedConfig,
    parse_models,
    websocket_url,
)
from switchyard.agent.backend import Event
from switchyard.agent.config import backoff_delay
from switchyard.protocol.vocabulary import Capability, Support

INSTANT = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, output_tokens=6)


def body(max_tokens: int = 100) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "a b c"}], "max_tokens": max_tokens}


async def run(backend: SimulatedBackend, request: dict[str, Any]) -> list[Event]:
    return [e async for e in backend.generate("sim-small", request)]


async def test_simulator_failures_are_seeded() -> None:
    async def outcomes(seed: int) -> list[bool]:
        backend = SimulatedBackend(replace_cfg(fail_rate=0.5, seed=seed))
        result = []
        for _ in range(20):
            try:
                await run(backend, body())
                result.append(True)
            except BackendError as exc:
                assert exc.retryable
                result.append(False)
        return result

    first = await outcomes(7)
    assert first == await outcomes(7)
    assert True in first and False in first


def replace_cfg(**kw: object) -> SimulatedConfig:
    values = {"ttft_s": 0.0, "tokens_per_s": math.inf, "output_tokens": 6, **kw}
    return SimulatedConfig(**values)  # type: ignore[arg-type]


async def test_simulator_models_and_validation() -> None:
    backend = SimulatedBackend(SimulatedConfig(tokens_per_s=40), models=("a", "b-embed"))
    chat = {Capability.COMPLETIONS: Support.YES, Capability.EMBEDDINGS: Support.NO}
    embeds = {Capability.COMPLETIONS: Support.NO, Capability.EMBEDDINGS: Support.YES}
    assert await backend.list_models() == [
        ModelInfo("a", 8192, None, 40, chat),
        ModelInfo("b-embed", 8192, None, 40, embeds),
    ]
    with pytest.raises(ValueError):
        SimulatedConfig(fail_rate=2)
    with pytest.raises(ValueError):
        SimulatedConfig(tokens_per_s=0)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/providers/connect"),
        ("https://yard.example.com/", "wss://yard.example.com/v1/providers/connect"),
        ("https://example.com/prefix", "wss://example.com/prefix/v1/providers/connect"),
        ("ws://h:1/v1/providers/connect", "ws://h:1/v1/providers/connect"),
    ],
)
def test_websocket_url(base: str, expected: str) -> None:
    assert websocket_url(base) == expected


@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "ftp://x", "http://"])
def test_websocket_url_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        websocket_url(bad)


def test_parse_models() -> None:
    assert parse_models("") == ((), {}, {})
    assert parse_models("a, b=org/B:7b ,") == (("a", "b"), {"b": "org/B:7b"}, {})
    with pytest.raises(ValueError):
        parse_models("a,a")


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        AgentConfig(coordinator="http://x", token="t", backend="openai")
    with pytest.raises(ValueError):
        AgentConfig(coordinator="http://x", token="t", slots=0)
    with pytest.raises(ValueError):
        AgentConfig(coordinator="nonsense", token="t")


def test_backoff_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(12)]
    for n, delay in enumerate(delays):
        ceiling = min(30.0, 0.5 * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff_delay(10_000, 0.5, 30.0, rng) <= 30.0
    assert len({round(d, 6) for d in delays[6:]}) > 1
