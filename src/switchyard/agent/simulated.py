"""A deterministic simulated backend for development, tests and benchmarks.

Output is the words `tok0 tok1 tok2 ...` (one token each), paced by a time to first token
and a token rate on an absolute schedule (no drift). Its length is `output_tokens`, cut at
the request's `max_tokens` (finish reason `length`). Stop sequences are ignored by default,
like a backend that does not support them, which leaves enforcing (and reporting) them to
the coordinator; with `honor_stop=True` it behaves like vLLM and ends the output just
before a stop sequence (finish reason `stop`).
Failure injection is seeded: each request fails with probability `fail_rate`, after
`fail_after_tokens` tokens, with a retryable `backend_error`.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

import trio

from switchyard.protocol.frames import ChatRequestBody
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import (
    BackendError,
    Event,
    Finish,
    FinishReason,
    ModelInfo,
    Token,
    rough_prompt_tokens,
)

DEFAULT_MODEL = "sim-small"


@dataclass(frozen=True)
class SimulatedConfig:
    """Knobs of the simulated backend; `tokens_per_s=inf` and `ttft_s=0` mean instant."""

    ttft_s: float = 0.05
    tokens_per_s: float = 200.0
    output_tokens: int = 32
    fail_rate: float = 0.0
    fail_after_tokens: int = 0
    seed: int = 0
    context_length: int = 8192
    honor_stop: bool = False

    def __post_init__(self) -> None:
        if not (self.ttft_s >= 0 and self.tokens_per_s > 0 and self.output_tokens >= 0):
            raise ValueError("ttft_s >= 0, tokens_per_s > 0 and output_tokens >= 0 required")
        if not (0.0 <= self.fail_rate <= 1.0 and self.fail_after_tokens >= 0):
            raise ValueError("fail_rate must be in [0, 1] and fail_after_tokens >= 0")


def simulated_text(n_tokens: int) -> str:
    """The text the simulator produces for `n_tokens` tokens (handy in tests)."""
    return "".join(_token(i) for i in range(n_tokens))


def _token(i: int) -> str:
    return f"tok{i}" if i == 0 else f" tok{i}"


class SimulatedBackend:
    """Deterministic token generator implementing the `Backend` protocol."""

    def __init__(
        self, config: SimulatedConfig | None = None, models: Sequence[str] = (DEFAULT_MODEL,)
    ) -> None:
        self.config = config or SimulatedConfig()
        self.models = tuple(models) or (DEFAULT_MODEL,)
        self._rng = random.Random(self.config.seed)

    async def list_models(self) -> list[ModelInfo]:
        cfg = self.config
        decode = None if math.isinf(cfg.tokens_per_s) else cfg.tokens_per_s
        return [ModelInfo(m, cfg.context_length, None, decode) for m in self.models]

    async def aclose(self) -> None:
        return None

    async def generate(self, model: str, request: ChatRequestBody) -> AsyncGenerator[Event, None]:
        cfg = self.config
        fails = cfg.fail_rate > 0 and self._rng.random() < cfg.fail_rate
        prompt_tokens = rough_prompt_tokens(request)
        cut = request.max_tokens if request.max_tokens is not None else cfg.output_tokens
        limit = min(cfg.output_tokens, cut)
        reason: FinishReason = "length" if cfg.output_tokens > cut else "stop"
        stops = (request.stop or []) if cfg.honor_stop else []
        tail_len = max((len(s) for s in stops), default=0)
        interval = 0.0 if math.isinf(cfg.tokens_per_s) else 1.0 / cfg.tokens_per_s
        start = trio.current_time() + cfg.ttft_s
        text = ""
        produced = 0
        matched: str | None = None
        for i in range(limit):
            if fails and produced >= cfg.fail_after_tokens:
                break
            await trio.sleep_until(start + i * interval)
            piece = _token(i)
            if stops:
                window = text + piece
                matched = next((s for s in stops if s in window), None)
                if matched is not None:
                    reason = "stop"
                    break
                text = window[-tail_len:]
            produced += 1
            yield Token(piece)
        if fails:
            await trio.sleep_until(start + produced * interval)
            raise BackendError(
                StreamErrorCode.BACKEND_ERROR, "simulated backend failure", retryable=True
            )
        await trio.lowlevel.checkpoint()
        yield Finish(prompt_tokens, produced, reason, matched)
