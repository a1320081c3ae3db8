"""The agent learns its upstream's context lengths and capabilities (issue 14, items 5, 6, 9).

A small fake upstream plays vLLM (`max_model_len`), llama.cpp (`meta.n_ctx`, `/props`) and
Ollama (`/api/show`); the operator's `--models name=upstream:ctx` and `--capability`
declarations win over what it reports, and the register frame carries the result.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from switchyard.agent import OpenAIBackend, ProviderAgent, parse_capabilities, parse_models
from switchyard.agent.backend import ModelInfo
from switchyard.protocol.frames import ModelCapabilities, ModelSpec
from switchyard.protocol.vocabulary import Capability, Support

from .fake_openai import FakeOpenAI
from .fakecoord import FakeCoordinator
from .test_agent_session import make_config

YES, NO = Support.YES, Support.NO
TOOLS, VISION = Capability.TOOLS, Capability.VISION
#: vLLM and llama.cpp serve /v1/completions; the fake's /v1/embeddings is a 404 (no).
SERVED = {Capability.COMPLETIONS: YES, Capability.EMBEDDINGS: NO}

LLAMA_PROPS = {
    "default_generation_settings": {"n_ctx": 4096, "params": {}},
    "modalities": {"vision": False, "audio": False},
    "chat_template_caps": {"supports_tools": True, "supports_tool_calls": True},
    "total_slots": 4,
}
OLLAMA_SHOW = {
    "parameters": 'stop               "<|eot_id|>"\nnum_ctx            8192',
    "model_info": {"llama.context_length": 131072},
    "capabilities": ["completion", "tools"],
}


async def described(
    nursery: trio.Nursery, **upstream: object
) -> tuple[list[ModelInfo], FakeOpenAI]:
    fake = FakeOpenAI(**upstream)  # type: ignore[arg-type]
    await nursery.start(fake.run)
    backend = OpenAIBackend(fake.url)
    try:
        return await backend.list_models(), fake
    finally:
        await backend.aclose()


async def test_vllm_context_comes_from_max_model_len(nursery: trio.Nursery) -> None:
    models, fake = await described(
        nursery, models=[{"id": "q", "owned_by": "vllm", "max_model_len": 32768}], shows={}
    )
    assert models == [ModelInfo("q", 32768, capabilities=SERVED)]
    # vLLM says all but whether it embeds: only that is asked
    assert fake.targets == ["GET /v1/models", "POST /v1/embeddings"]


async def test_llama_cpp_context_and_capabilities_come_from_props(nursery: trio.Nursery) -> None:
    entry = {"id": "tiny.gguf", "owned_by": "llamacpp", "meta": {"n_ctx": 16384, "n_ctx_train": 1}}
    models, fake = await described(nursery, models=[entry], props=LLAMA_PROPS)
    # /props' n_ctx is one slot's context, what limits one request: it wins over meta's
    caps = {TOOLS: YES, VISION: NO, **SERVED}
    assert models == [ModelInfo("tiny.gguf", 4096, capabilities=caps)]
    assert fake.targets == ["GET /v1/models", "GET /props", "POST /v1/embeddings"]


async def test_llama_cpp_without_props_keeps_meta_n_ctx(nursery: trio.Nursery) -> None:
    entry = {"id": "tiny.gguf", "owned_by": "llamacpp", "meta": {"n_ctx": 16384}}
    models, _ = await described(nursery, models=[entry])
    assert models == [ModelInfo("tiny.gguf", 16384, capabilities=SERVED)]


async def test_ollama_capabilities_and_num_ctx_come_from_api_show(nursery: trio.Nursery) -> None:
    listed = [{"id": "llama3.2:3b", "owned_by": "library"}, {"id": "bare", "owned_by": "x"}]
    shows = {"llama3.2:3b": OLLAMA_SHOW, "bare": {"capabilities": ["completion", "vision"]}}
    models, fake = await described(nursery, models=listed, shows=shows)
    caps = {c: NO for c in (TOOLS, VISION, Capability.REASONING, Capability.EMBEDDINGS)}
    assert models == [
        ModelInfo(
            "llama3.2:3b", 8192, capabilities={**caps, TOOLS: YES, Capability.COMPLETIONS: YES}
        ),
        # no num_ctx: Ollama's own default is a server setting it does not report
        ModelInfo("bare", None, capabilities={**caps, VISION: YES, Capability.COMPLETIONS: YES}),
    ]
    assert fake.targets.count("POST /api/show") == 2


async def test_a_server_that_says_nothing_is_asked_once(nursery: trio.Nursery) -> None:
    models, fake = await described(nursery, models=[{"id": "a"}, {"id": "b"}, {"id": ""}])
    assert models == [ModelInfo("a"), ModelInfo("b")]
    assert fake.targets == ["GET /v1/models", "POST /api/show"]  # a 404 ends the probing


def test_models_flag_declares_context_lengths() -> None:
    assert parse_models("a=org/A:32768, llama3.2:3b, b:4096, c=ollama/m:70:8192") == (
        ("a", "llama3.2:3b", "b", "c"),
        {"a": "org/A", "c": "ollama/m:70"},
        {"a": 32768, "b": 4096, "c": 8192},
    )
    with pytest.raises(ValueError, match="at least 1"):
        parse_models("a:0")


def test_capability_flags_parse_for_all_models_and_per_model() -> None:
    declared = parse_capabilities(
        ["tools=yes, vision=no", "llama3.2:3b@vision=YES,reasoning=unknown", "tools=false"]
    )
    assert declared == {
        "": {TOOLS: NO, VISION: NO},
        "llama3.2:3b": {VISION: YES, Capability.REASONING: Support.UNKNOWN},
    }
    for bad in ("tools", "wings=yes", "tools=maybe", "@tools=yes"):
        with pytest.raises(ValueError, match="--capability"):
            parse_capabilities([bad])


async def test_register_carries_probed_and_declared_profiles(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    entry = {"id": "tiny.gguf", "owned_by": "llamacpp", "meta": {"n_ctx": 16384}}
    fake = FakeOpenAI(models=[entry], props=LLAMA_PROPS)
    await nursery.start(fake.run)
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    config = make_config(
        coord.url, tmp_path, backend="openai", upstream=fake.url, slots=2,
        models=("tiny", "other"), model_map={"tiny": "tiny.gguf"}, model_context={"other": 2048},
        capabilities=parse_capabilities(["json_schema=yes", "tiny@tools=no"]),
    )  # fmt: skip
    nursery.start_soon(ProviderAgent(config).run)
    conn = await coord.next_connection()
    assert conn.register.models == [
        ModelSpec(
            id="tiny", slots=2, context_length=4096,
            capabilities=ModelCapabilities(
                tools=NO, vision=NO, json_schema=YES, completions=YES, embeddings=NO
            ),
        ),
        ModelSpec(
            id="other", slots=2, context_length=2048,
            capabilities=ModelCapabilities(json_schema=YES),
        ),
    ]  # fmt: skip
