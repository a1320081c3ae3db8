"""A deterministic simulated backend for development, tests and benchmarks.

It answers an OpenAI chat-completions body the way `sim_answer.plan_answer` plans: the
words `tok0 tok1 tok2 ...` for plain chat, a tool call whose arguments follow the tool's
schema, JSON for `response_format`, reasoning before it on request. Each step is one
token (one counted delta), paced by a time to first token and a token rate on an absolute
schedule (no drift); usage counts them. Plain text is `output_tokens` long; any answer is
cut at the request's `max_completion_tokens` / `max_tokens` (finish reason `length`).
The first token's deltas open with `{"role": "assistant"}`, as an OpenAI stream does.
Stop sequences are ignored by default, like a backend that does not support them, which
leaves enforcing (and reporting) them to the coordinator; with `honor_stop=True` it
behaves like vLLM and ends the content just before a stop sequence (finish reason `stop`).
The other request kinds (`sim_kinds.py`): embeddings are deterministic unit vectors,
text completions answer the prompt as a chat turn would (one choice per prompt and `n`,
`echo` first), a token count is the rough word count. Failure injection is seeded: each
request fails with probability `fail_rate`, after `fail_after_tokens` tokens, with a
retryable `backend_error`.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from switchyard.protocol.chunk_codec import ASSISTANT_ROLE
from switchyard.protocol.vocabulary import RequestKind, StreamErrorCode

from .backend import BackendError, Deltas, Event, Finish, FinishReason, ModelInfo, embedding_delta
from .sim_answer import plan_answer, simulated_text, wants_reasoning
from .sim_kinds import (
    DEFAULT_DIMENSIONS,
    completion_as_chat,
    completion_prompts,
    embedding_inputs,
    input_tokens,
    is_embedding_model,
    sim_capabilities,
    sim_embedding,
)

__all__ = ["DEFAULT_MODEL", "SimulatedBackend", "SimulatedConfig", "simulated_text"]

DEFAULT_MODEL = "sim-small"
#: Embeddings made (and sent) per step: a large batch never holds the event loop long.
EMBED_BATCH = 32


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
    reasoning_tokens: int = 8

    def __post_init__(self) -> None:
        if not (self.ttft_s >= 0 and self.tokens_per_s > 0 and self.output_tokens >= 0):
            raise ValueError("ttft_s >= 0, tokens_per_s > 0 and output_tokens >= 0 required")
        if not (0.0 <= self.fail_rate <= 1.0 and self.fail_after_tokens >= 0):
            raise ValueError("fail_rate must be in [0, 1] and fail_after_tokens >= 0")
        if self.reasoning_tokens < 0:
            raise ValueError("reasoning_tokens must be >= 0")


class SimulatedBackend:
    """Deterministic answer generator implementing the `Backend` protocol."""

    def __init__(
        self, config: SimulatedConfig | None = None, models: Sequence[str] = (DEFAULT_MODEL,)
    ) -> None:
        self.config = config or SimulatedConfig()
        self.models = tuple(models) or (DEFAULT_MODEL,)
        self._rng = random.Random(self.config.seed)

    async def list_models(self) -> list[ModelInfo]:
        cfg = self.config
        decode = None if math.isinf(cfg.tokens_per_s) else cfg.tokens_per_s
        return [
            ModelInfo(m, cfg.context_length, None, decode, sim_capabilities(m)) for m in self.models
        ]

    async def aclose(self) -> None:
        return None

    async def generate(
        self, model: str, request: dict[str, Any], kind: RequestKind = RequestKind.CHAT
    ) -> AsyncGenerator[Event, None]:
        await trio.sleep(self.config.ttft_s if kind is not RequestKind.TOKENIZE else 0)
        if kind is RequestKind.TOKENIZE:
            yield Finish(prompt_tokens(request), 0, "stop")
            return
        if (kind is RequestKind.EMBEDDING) != is_embedding_model(model):
            what = "an embedding model" if is_embedding_model(model) else "not an embedding model"
            raise BackendError(
                StreamErrorCode.UPSTREAM_REJECTED, f"{model} is {what}", retryable=False, status=400
            )
        if kind is RequestKind.EMBEDDING:
            inputs = embedding_inputs(request.get("input"))
            dims = request.get("dimensions") or DEFAULT_DIMENSIONS
            for start in range(0, len(inputs), EMBED_BATCH):  # a few at a time: the agent's
                batch = inputs[start : start + EMBED_BATCH]  # loop keeps serving the rest
                yield Deltas(
                    [
                        embedding_delta(start + i, sim_embedding(x, dims))
                        for i, x in enumerate(batch)
                    ]
                )
                await trio.lowlevel.checkpoint()
            yield Finish(sum(input_tokens(x) for x in inputs), 0, "stop")
            return
        async for event in self._generate(request, kind is RequestKind.COMPLETION):
            yield event

    async def _generate(
        self, request: dict[str, Any], completion: bool
    ) -> AsyncGenerator[Event, None]:
        cfg = self.config
        fails = cfg.fail_rate > 0 and self._rng.random() < cfg.fail_rate
        prompts = completion_prompts(request) if completion else []
        fan = len(prompts) * (request.get("n") or 1) if completion else 1
        answer = plan_answer(
            completion_as_chat(request, prompts[0]) if completion else request,
            output_tokens=cfg.output_tokens,
            reasoning_tokens=cfg.reasoning_tokens,
        )
        steps = answer.reasoning + answer.body
        reason: FinishReason = answer.finish_reason
        limit = max_output_tokens(request)
        if limit is not None and len(steps) > limit:
            steps, reason = steps[:limit], "length"
        stops = stop_sequences(request) if cfg.honor_stop else []
        tail_len = max((len(s) for s in stops), default=0)
        interval = 0.0 if math.isinf(cfg.tokens_per_s) else 1.0 / cfg.tokens_per_s
        start = trio.current_time()
        if completion and request.get("echo"):
            each = len(prompts) and fan // len(prompts)
            yield Deltas(_fanned([{"content": prompts[c // each]} for c in range(fan)]))
        text = ""
        produced = reasoned = 0
        matched: str | None = None
        for i, step in enumerate(steps):
            if fails and produced >= cfg.fail_after_tokens:
                break
            await trio.sleep_until(start + i * interval)
            piece = step[0].get("content")
            if stops and isinstance(piece, str):
                window = text + piece
                matched = next((s for s in stops if s in window), None)
                if matched is not None:
                    reason = "stop"
                    break
                text = window[-tail_len:]
            produced += 1
            reasoned += "reasoning_content" in step[0]
            if completion:
                yield Deltas(_fanned([dict(d) for _ in range(fan) for d in step]))
            else:
                yield Deltas([{"role": ASSISTANT_ROLE}, *step] if i == 0 else step)
        if fails:
            await trio.sleep_until(start + produced * interval)
            raise BackendError(
                StreamErrorCode.BACKEND_ERROR, "simulated backend failure", retryable=True
            )
        await trio.lowlevel.checkpoint()
        reasoning = reasoned if wants_reasoning(request) else None
        if completion and fan > 1:
            yield Deltas([{"index": c, "finish_reason": reason} for c in range(fan)])
        prompt = sum(len(p.split()) for p in prompts) if completion else prompt_tokens(request)
        yield Finish(prompt, produced * fan, reason, matched, reasoning)


def _fanned(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deltas listed choice by choice (one per choice, in order) with their index set."""
    for index, delta in enumerate(deltas):
        if index:
            delta["index"] = index
    return deltas


def prompt_tokens(request: Mapping[str, Any]) -> int:
    """A rough prompt size: words of the messages' text plus a few per message of framing."""
    total = 0
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = " ".join(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        total += (len(content.split()) if isinstance(content, str) else 0) + 3
    return total


def max_output_tokens(request: Mapping[str, Any]) -> int | None:
    """The body's output limit (`max_completion_tokens`, else `max_tokens`), if any."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = request.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def stop_sequences(request: Mapping[str, Any]) -> list[str]:
    """The body's `stop` (a string or a list of them) as a list of non-empty strings."""
    stop = request.get("stop")
    items = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    return [s for s in items if isinstance(s, str) and s]
