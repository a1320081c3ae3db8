"""The simulator server's answers beyond chat: text completions, embeddings, token counts.

`SimOpenAIServer` (`sim_server.py`) serves them in vLLM's shapes from the simulated
backend's events: `POST /v1/completions` as `text_completion` chunks (one per delta, each
choice by its index, finish reasons, a usage chunk when asked) or one body;
`POST /v1/embeddings` as a list of `embedding` objects (floats, or base64 when asked)
with usage; `POST /tokenize` as vLLM answers it (`count`, `tokens`, `max_model_len`).
"""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

from .backend import Deltas, Event, Finish
from .sim_render import usage_dict


def completion_chunk(model: str, event: Event, include_usage: bool) -> bytes:
    """The SSE bytes of one backend event of a text completion."""
    created = int(time.time())
    head = {"id": "cmpl-sim", "object": "text_completion", "created": created, "model": model}
    if isinstance(event, Deltas):
        parts = []
        for delta in event.items:
            text = delta.get("content", "")
            reason = delta.get("finish_reason")
            choice = {"text": text, "index": delta.get("index", 0), "logprobs": None}
            parts.append(_sse({**head, "choices": [{**choice, "finish_reason": reason}]}))
        return "".join(parts).encode()
    final = {"text": "", "index": 0, "logprobs": None, "finish_reason": event.finish_reason}
    out = _sse({**head, "choices": [final]})
    if include_usage:
        out += _sse({**head, "choices": [], "usage": usage_dict(event)})
    return (out + "data: [DONE]\n\n").encode()


def completion_body(model: str, deltas: list[dict[str, Any]], finish: Finish) -> dict[str, Any]:
    """A whole `text_completion` from the deltas of every choice."""
    texts: dict[int, list[str]] = {}
    reasons: dict[int, str] = {}
    for delta in deltas:
        index = delta.get("index", 0)
        texts.setdefault(index, []).append(delta.get("content", ""))
        if delta.get("finish_reason"):
            reasons[index] = delta["finish_reason"]
    choices = [
        {
            "text": "".join(texts[i]),
            "index": i,
            "logprobs": None,
            "finish_reason": reasons.get(i, finish.finish_reason),
        }
        for i in sorted(texts)
    ]
    return {
        "id": "cmpl-sim", "object": "text_completion", "created": int(time.time()),
        "model": model, "choices": choices, "usage": usage_dict(finish),
    }  # fmt: skip


def embeddings_body(
    model: str, deltas: list[dict[str, Any]], finish: Finish, encoding: str
) -> dict[str, Any]:
    """An embeddings answer from the backend's `embedding` deltas."""
    data = []
    for delta in deltas:
        piece = delta["embedding"]
        b64 = piece["b64"]
        if encoding == "base64":
            value: Any = b64
        else:
            raw = base64.b64decode(b64)
            value = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        data.append({"object": "embedding", "index": piece["index"], "embedding": value})
    usage = {"prompt_tokens": finish.prompt_tokens, "total_tokens": finish.prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def tokenize_body(count: int, max_model_len: int) -> dict[str, Any]:
    """vLLM's `/tokenize` answer for a prompt of `count` tokens (ids are placeholders)."""
    return {"count": count, "max_model_len": max_model_len, "tokens": list(range(count))}


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


__all__ = ["completion_body", "completion_chunk", "embeddings_body", "tokenize_body"]
