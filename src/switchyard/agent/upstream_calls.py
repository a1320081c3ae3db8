"""The upstream's one-shot routes: `/v1/embeddings` and `/tokenize`.

- `embed` posts an embeddings body (model mapped, `encoding_format: "float"`, which every
  OpenAI-compatible server speaks; `dimensions` and any server extras as the consumer
  sent them) and turns the answer into one `embedding` delta per input (float32 in base64,
  what servers compute, so nothing is lost), checked: one embedding per input, each of at
  most `MAX_EMBEDDING_DIMENSIONS` finite numbers, all of them within
  `MAX_EMBEDDING_OUTPUT_CHARS` (a batch above that is refused as a 400: split it). The
  answer is read up to `MAX_UPSTREAM_JSON_BYTES`.
- `count_prompt` counts a chat body's prompt tokens with the server's own tokenizer:
  vLLM's `POST /tokenize` takes the messages (and tools) and answers `count`; llama.cpp's
  takes only `content` (it answers a `tokens` list without `count`), so the messages
  are first rendered by its `POST /apply-template`. A server with neither (a 404, 405 or
  501 on those routes, or answers without a count) is refused as a 404 `no tokenizer`:
  not the provider's fault, so its routing record is untouched, and the coordinator
  estimates instead.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

import httpx

from switchyard.protocol.limits import (
    MAX_EMBEDDING_DIMENSIONS,
    MAX_EMBEDDING_INPUTS,
    MAX_EMBEDDING_OUTPUT_CHARS,
    MiB,
)
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import BackendError, embedding_delta
from .upstream_errors import status_error, transport_failures

#: The largest JSON answer read from an embeddings or tokenize route.
MAX_UPSTREAM_JSON_BYTES = 64 * MiB
#: How long a tokenize round trip may take (the coordinator bounds it too).
TOKENIZE_TIMEOUT_S = 10.0


def input_count(value: Any) -> int:
    """How many inputs an embeddings `input` holds (a string or one token array is one)."""
    if isinstance(value, list) and value and not all(isinstance(v, int) for v in value):
        return len(value)
    return 1


#: Statuses that say a route does not exist on the server.
ROUTE_MISSING = frozenset({404, 405, 501})


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    timeout: float | None = None,
    *,
    missing: BackendError | None = None,
) -> Any:
    """POST `body`; the JSON answer (BackendError for an HTTP error, a bad or huge answer;
    `missing` when the route does not exist, if given)."""
    kwargs: dict[str, Any] = {"json": body}
    if timeout is not None:
        kwargs["timeout"] = timeout
    with transport_failures():
        async with client.stream("POST", url, **kwargs) as resp:
            if missing is not None and resp.status_code in ROUTE_MISSING:
                raise missing
            if resp.status_code >= 400:
                raise status_error(resp.status_code, (await resp.aread())[:4096])
            raw = bytearray()
            async for part in resp.aiter_bytes():
                raw += part
                if len(raw) > MAX_UPSTREAM_JSON_BYTES:
                    raise _bad(f"an answer over {MAX_UPSTREAM_JSON_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise _bad("invalid JSON") from None


async def embed(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> tuple[list[dict[str, Any]], int | None]:
    """(one `embedding` delta per input, in order; the prompt tokens the upstream reports)."""
    expected = input_count(body.get("input"))
    if expected > MAX_EMBEDDING_INPUTS:
        raise _refused(f"at most {MAX_EMBEDDING_INPUTS} inputs per request")
    answer = await post_json(client, url, {**body, "encoding_format": "float"})
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise _bad(f"{len(data) if isinstance(data, list) else 'no'} embeddings for {expected}")
    deltas: list[dict[str, Any] | None] = [None] * expected
    total = 0
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise _bad("an embedding that is not an object")
        index = item.get("index", position)
        if type(index) is not int or not 0 <= index < expected or deltas[index] is not None:
            raise _bad("embedding indexes that do not match the inputs")
        delta = _embedding(index, item.get("embedding"))
        total += len(delta["embedding"]["b64"])
        if total > MAX_EMBEDDING_OUTPUT_CHARS:
            raise _refused(
                f"the embeddings of this batch exceed {MAX_EMBEDDING_OUTPUT_CHARS} base64 "
                "characters; split it into smaller requests"
            )
        deltas[index] = delta
    usage = answer.get("usage")
    prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    valid = type(prompt) is int and prompt >= 0
    return [d for d in deltas if d is not None], prompt if valid else None


def _embedding(index: int, raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):  # a server that answers base64 whatever it is asked
        try:
            size = len(base64.b64decode(raw, validate=True))
        except ValueError:
            raise _bad("an embedding that is neither numbers nor base64") from None
        if size % 4 or size // 4 > MAX_EMBEDDING_DIMENSIONS:
            raise _bad("a base64 embedding of the wrong size")
        return {"embedding": {"index": index, "b64": raw}}
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_EMBEDDING_DIMENSIONS:
        raise _bad(f"an embedding that is not 1 to {MAX_EMBEDDING_DIMENSIONS} numbers")
    values = []
    for value in raw:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _bad("an embedding value that is not a finite number")
        values.append(float(value))
    try:
        return embedding_delta(index, values)
    except OverflowError:
        raise _bad("an embedding value beyond float32") from None


async def count_prompt(
    client: httpx.AsyncClient, root: str, model: str, body: Mapping[str, Any]
) -> int:
    """The prompt tokens of chat `body` by the upstream's tokenizer (see the module doc)."""
    messages = body.get("messages")
    ask: dict[str, Any] = {"model": model, "messages": messages, "add_generation_prompt": True}
    if body.get("tools"):
        ask["tools"] = body["tools"]
    none = _no_tokenizer()
    answer = await post_json(client, f"{root}/tokenize", ask, TOKENIZE_TIMEOUT_S, missing=none)
    count = answer.get("count") if isinstance(answer, dict) else None
    if type(count) is int and count >= 0:
        return count  # vLLM
    template: dict[str, Any] = {"messages": messages}
    if body.get("tools"):
        template["tools"] = body["tools"]
    url = f"{root}/apply-template"
    rendered = await post_json(client, url, template, TOKENIZE_TIMEOUT_S, missing=none)
    prompt = rendered.get("prompt") if isinstance(rendered, dict) else None
    if not isinstance(prompt, str):
        raise none
    content = {"content": prompt, "add_special": True, "parse_special": True}
    answer = await post_json(client, f"{root}/tokenize", content, TOKENIZE_TIMEOUT_S, missing=none)
    tokens = answer.get("tokens") if isinstance(answer, dict) else None
    if not isinstance(tokens, list):
        raise none
    return len(tokens)


def _bad(what: str) -> BackendError:
    return BackendError(
        StreamErrorCode.UPSTREAM_BAD_RESPONSE, f"upstream sent {what}", retryable=True
    )


def _no_tokenizer() -> BackendError:
    return BackendError(
        StreamErrorCode.UPSTREAM_REJECTED,
        "the upstream has no tokenizer route (/tokenize)",
        retryable=False,
        status=404,
    )


def _refused(why: str) -> BackendError:
    return BackendError(StreamErrorCode.UPSTREAM_REJECTED, why, retryable=False, status=400)


__all__ = ["count_prompt", "embed", "input_count", "post_json"]
