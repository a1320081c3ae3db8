"""What an OpenAI-compatible upstream says about its models: context length, capabilities.

`describe_models` turns the upstream's `/v1/models` list into `ModelInfo`s, then asks the
server's own endpoints where its kind says more (each probe is optional: a server that
does not answer it is simply not described further):

- vLLM: `data[].max_model_len` in `/v1/models` (others name it `context_length`);
- llama.cpp `llama-server` (entries with `meta` or `owned_by: llamacpp`): `data[].meta.n_ctx`,
  and `GET /props` at the server's root: `default_generation_settings.n_ctx` (the context
  of one slot, which is what limits one request, so it wins), `modalities.vision`, and
  `chat_template_caps.supports_tool_calls` / `supports_tools`;
- Ollama (any other server, tried once per model until it answers 404): `POST /api/show`
  gives `capabilities` (`completion`, `tools`, `vision`, `thinking`, `embedding`: present
  means yes, absent no) and, when the model sets one, `num_ctx` in its `parameters`
  (Ollama's default context is a server setting it does not report, so nothing is
  claimed otherwise).

vLLM and llama.cpp both serve `/v1/completions` (completions: yes). Neither says in its
lists whether a model is an embedding model, so the agent asks: one tiny
`POST /v1/embeddings` per model at start-up, where a 2xx with an embedding means yes and
a refusal (400, 404, 422 or 501: vLLM's "does not support the Embeddings API" or a route
it did not register, llama.cpp started without `--embeddings`) means no; anything else
(a timeout, a 5xx) leaves it unknown. `--capability embeddings=...` declares it instead.

Nothing here is trusted blindly: counts must be positive integers, flags booleans.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

import httpx

from switchyard.protocol.vocabulary import Capability, Support

from .backend import ModelInfo

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
#: Ollama's capability words.
_OLLAMA_CAPS = {
    "tools": Capability.TOOLS,
    "vision": Capability.VISION,
    "thinking": Capability.REASONING,
    "completion": Capability.COMPLETIONS,
    "embedding": Capability.EMBEDDINGS,
}


def count(value: Any) -> int | None:
    """A positive integer, or None."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if ok else None


def server_root(base_url: str) -> str:
    """`http://host:port/v1` → `http://host:port` (where `/props` and `/api/show` live)."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


async def describe_models(
    client: httpx.AsyncClient, base_url: str, entries: list[Any]
) -> list[ModelInfo]:
    """`ModelInfo`s for the `/v1/models` `entries`, with what the server's probes add."""
    listed = [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
    listed = [e for e in listed if e["id"]]
    root = server_root(base_url)
    if any(_is_llama_cpp(e) for e in listed):
        props = await _get_json(client, "GET", f"{root}/props")
        models = [_llama_cpp_model(e, props) for e in listed]
        return [await _served_kinds(client, base_url, m) for m in models]
    models = [ModelInfo(id=e["id"], context_length=_listed_context(e)) for e in listed]
    if any(m.context_length is not None for m in models):  # vLLM
        return [await _served_kinds(client, base_url, m) for m in models]
    described: list[ModelInfo] = []
    for info in models:
        shown = await _ollama_show(client, root, info.id)
        if shown is None:
            return described + models[len(described) :]
        described.append(_ollama_model(info, shown))
    return described


def _listed_context(entry: dict[str, Any]) -> int | None:
    return count(entry.get("max_model_len")) or count(entry.get("context_length"))


def _is_llama_cpp(entry: dict[str, Any]) -> bool:
    return isinstance(entry.get("meta"), dict) or entry.get("owned_by") == "llamacpp"


def _llama_cpp_model(entry: dict[str, Any], props: dict[str, Any] | None) -> ModelInfo:
    meta = entry.get("meta")
    context = count(meta.get("n_ctx")) if isinstance(meta, dict) else None
    caps: dict[Capability, Support] = {}
    if props is not None:
        settings = props.get("default_generation_settings")
        if isinstance(settings, dict):
            context = count(settings.get("n_ctx")) or context
        modalities = props.get("modalities")
        if isinstance(modalities, dict) and isinstance(modalities.get("vision"), bool):
            caps[Capability.VISION] = Support.YES if modalities["vision"] else Support.NO
        template = props.get("chat_template_caps")
        if isinstance(template, dict):
            tools = template.get("supports_tool_calls", template.get("supports_tools"))
            if isinstance(tools, bool):
                caps[Capability.TOOLS] = Support.YES if tools else Support.NO
    return ModelInfo(id=entry["id"], context_length=context or None, capabilities=caps)


#: What an embeddings probe's refusal looks like: the model (or server) does not embed.
_NO_EMBEDDINGS = frozenset({400, 404, 422, 501})


async def _served_kinds(client: httpx.AsyncClient, base_url: str, info: ModelInfo) -> ModelInfo:
    """`info` with completions yes and what an embeddings probe says (module docstring)."""
    caps = {Capability.COMPLETIONS: Support.YES, **info.capabilities}
    try:
        resp = await client.post(
            f"{base_url}/embeddings",
            json={"model": info.id, "input": "probe"},
            timeout=PROBE_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        log.debug("embeddings probe of %s failed: %s", info.id, exc)
        return replace(info, capabilities=caps)
    if resp.status_code in _NO_EMBEDDINGS:
        caps[Capability.EMBEDDINGS] = Support.NO
    elif resp.status_code == 200:
        try:
            data = resp.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if isinstance(data, list) and data:
            caps[Capability.EMBEDDINGS] = Support.YES
    return replace(info, capabilities=caps)


async def _ollama_show(client: httpx.AsyncClient, root: str, model: str) -> dict[str, Any] | None:
    return await _get_json(client, "POST", f"{root}/api/show", {"model": model})


def _ollama_model(info: ModelInfo, shown: dict[str, Any]) -> ModelInfo:
    caps: dict[Capability, Support] = {}
    words = shown.get("capabilities")
    if isinstance(words, list):
        for word, capability in _OLLAMA_CAPS.items():
            caps[capability] = Support.YES if word in words else Support.NO
    context = info.context_length
    parameters = shown.get("parameters")
    if isinstance(parameters, str):
        match = _NUM_CTX.search(parameters)
        if match:
            context = count(int(match.group(1))) or context
    return ModelInfo(id=info.id, context_length=context, capabilities=caps)


async def _get_json(
    client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The JSON object at `url`, or None (not there, not JSON, unreachable)."""
    try:
        resp = await client.request(method, url, json=body, timeout=PROBE_TIMEOUT_S)
        if resp.status_code != 200:
            return None
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.debug("probe %s %s failed: %s", method, url, exc)
        return None
    return data if isinstance(data, dict) else None


__all__ = ["count", "describe_models", "server_root"]
