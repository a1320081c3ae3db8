"""What the simulator answers to the request kinds other than chat (pure, no I/O).

- Embeddings: each input's vector is drawn from a PRNG seeded with a SHA-256 of the input
  (its text, or its token ids), `dimensions` long (`DEFAULT_DIMENSIONS` without it), unit length, so
  the same input always gets the same vector; it counts one token per word of a text
  input (at least one) and one per id of a token-array input.
- Text completions: the prompt is answered like a chat turn whose user message is the
  prompt (`tok0 tok1 ...`); `echo` sends the prompt first; a list of prompts and `n`
  give one choice per prompt and sample, index `prompt * n + sample`.
- A simulated model whose name contains `embed` is an embedding model (embeddings yes,
  chat completions and text completions no); any other serves both completions kinds and
  says no to embeddings.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from typing import Any

from switchyard.protocol.vocabulary import Capability, Support

#: Dimensions of a simulated embedding when the request does not ask for a number.
DEFAULT_DIMENSIONS = 16


def is_embedding_model(model: str) -> bool:
    """True for a simulated embedding model (see the module docstring)."""
    return "embed" in model


def sim_capabilities(model: str) -> dict[Capability, Support]:
    """What a simulated model says it can do."""
    embeds = is_embedding_model(model)
    return {
        Capability.EMBEDDINGS: Support.YES if embeds else Support.NO,
        Capability.COMPLETIONS: Support.NO if embeds else Support.YES,
    }


def embedding_inputs(value: Any) -> list[str | list[int]]:
    """The inputs of an embeddings `input` (a string, strings, a token array or arrays)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    return list(value) if isinstance(value, list) else []


def input_tokens(item: str | list[int]) -> int:
    """What the simulator counts for one input."""
    return max(1, len(item.split())) if isinstance(item, str) else len(item)


def sim_embedding(item: str | list[int], dimensions: int) -> list[float]:
    """The unit vector of `item` (see the module docstring): a PRNG seeded with the
    input's SHA-256, cheap enough for thousands of inputs of thousands of dimensions."""
    seed = (item if isinstance(item, str) else ",".join(map(str, item))).encode()
    rng = random.Random(hashlib.sha256(seed).digest())
    values = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.hypot(*values) or 1.0
    return [v / norm for v in values]


def completion_prompts(request: Mapping[str, Any]) -> list[str]:
    """A completions body's prompts as text (token ids are shown as their numbers)."""
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        return [" ".join(map(str, prompt))]
    if isinstance(prompt, list):
        return [p if isinstance(p, str) else " ".join(map(str, p)) for p in prompt]
    return [""]


def completion_as_chat(request: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    """The chat body the simulator plans a completion's answer with."""
    chat = {k: v for k, v in request.items() if k in ("max_tokens", "stop", "seed")}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


__all__ = [
    "DEFAULT_DIMENSIONS",
    "completion_as_chat",
    "completion_prompts",
    "embedding_inputs",
    "input_tokens",
    "is_embedding_model",
    "sim_capabilities",
    "sim_embedding",
]
