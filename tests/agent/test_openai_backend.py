"""The openai backend against a local OpenAI-compatible streaming server, alone and in an agent."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio

from switchyard.agent import (
    BackendError,
    Finish,
    OpenAIBackend,
    ProviderAgent,
    Token,
)
from switchyard.agent.backend import Event
from switchyard.protocol.frames import ChatRequestBody, ModelSpec

from .fake_openai import FakeOpenAI
from .fakecoord import FakeCoordinator
from .test_agent_session import make_config, request

BODY = ChatRequestBody(
    messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ],
    max_tokens=16,
    temperature=0.5,
    stop=["\n\n"],
)


async def collect(backend: OpenAIBackend, model: str = "m") -> list[Event]:
    try:
        return [event async for event in backend.generate(model, BODY)]
    finally:
        await backend.aclose()


async def serve(nursery: trio.Nursery, **kwargs: object) -> FakeOpenAI:
    upstream = FakeOpenAI(**kwargs)  # type: ignore[arg-type]
    await nursery.start(upstream.run)
    return upstream


async def test_streams_tokens_and_maps_usage(nursery: trio.Nursery) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    upstream = await serve(nursery, finish_reason="length", usage=usage)
    backend = OpenAIBackend(upstream.url, api_key="up-key", model_map={"m": "upstream/model"})
    events = await collect(backend)
    assert events == [Token("Hello"), Token(" world"), Token("!"), Finish(11, 3, "length")]

    sent = upstream.requests[0]
    assert sent["model"] == "upstream/model"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_tokens"] == 16
    assert sent["temperature"] == 0.5
    assert sent["stop"] == ["\n\n"]
    assert "top_p" not in sent and "seed" not in sent
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert upstream.headers[0]["authorization"] == "Bearer up-key"


async def test_usage_fallback_when_the_server_sends_none(nursery: trio.Nursery) -> None:
    upstream = await serve(nursery, pieces=("a", "b", "c", "d"), finish_reason="function_call")
    events = await collect(OpenAIBackend(upstream.url))
    assert events[-1] == Finish(prompt_tokens=2 + 3 + 2 + 3, completion_tokens=4,
                                finish_reason="tool_calls")  # fmt: skip


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (500, "upstream_unavailable", True),
        (429, "upstream_unavailable", True),
        (400, "upstream_rejected", False),
        (404, "upstream_rejected", False),
    ],
)
async def test_http_errors(nursery: trio.Nursery, status: int, code: str, retryable: bool) -> None:
    upstream = await serve(nursery, status=status)
    with pytest.raises(BackendError) as info:
        await collect(OpenAIBackend(upstream.url))
    assert (info.value.code, info.value.retryable) == (code, retryable)
    assert str(status) in info.value.message


async def test_error_event_inside_the_stream(nursery: trio.Nursery) -> None:
    upstream = await serve(nursery, extra_events=('data: {"error": {"message": "OOM"}}\n\n',))
    with pytest.raises(BackendError) as info:
        await collect(OpenAIBackend(upstream.url))
    assert info.value.code == "upstream_error"
    assert "OOM" in info.value.message


async def test_garbage_in_the_stream(nursery: trio.Nursery) -> None:
    upstream = await serve(nursery, extra_events=("data: {not json\n\n",))
    with pytest.raises(BackendError) as info:
        await collect(OpenAIBackend(upstream.url))
    assert (info.value.code, info.value.retryable) == ("upstream_bad_response", True)


async def test_unreachable_upstream_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendError) as info:
        await collect(OpenAIBackend(f"http://127.0.0.1:{port}/v1"))
    assert (info.value.code, info.value.retryable) == ("upstream_unreachable", True)


async def test_lists_models(nursery: trio.Nursery) -> None:
    upstream = await serve(
        nursery, models=[{"id": "llama", "max_model_len": 8192}, {"id": "qwen"}, {"x": 1}]
    )
    backend = OpenAIBackend(upstream.url + "/")
    try:
        models = await backend.list_models()
    finally:
        await backend.aclose()
    assert [(m.id, m.context_length) for m in models] == [("llama", 8192), ("qwen", None)]


async def test_agent_relays_an_upstream_stream(nursery: trio.Nursery, tmp_path: Path) -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    models = [{"id": "llama", "max_model_len": 4096}, {"id": "x" * 201}, {"id": "llama"}]
    upstream = await serve(nursery, usage=usage, models=models)
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    config = make_config(coord.url, tmp_path, backend="openai", upstream=upstream.url, slots=2)
    nursery.start_soon(ProviderAgent(config).run)
    conn = await coord.next_connection()
    assert conn.register.models == [ModelSpec(id="llama", slots=2, context_length=4096)]

    await conn.send(request("r1", model="llama"))
    text, done = await conn.result("r1")
    assert text == "Hello world!"
    assert done.type == "complete"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (7, 3)
    assert done.finish_reason == "stop"
    assert upstream.requests[0]["model"] == "llama"


async def test_agent_maps_public_model_names(nursery: trio.Nursery, tmp_path: Path) -> None:
    upstream = await serve(nursery, status=503)
    coord = FakeCoordinator()
    await nursery.start(coord.run)
    config = make_config(
        coord.url, tmp_path, backend="openai", upstream=upstream.url,
        models=("llama-3-8b",), model_map={"llama-3-8b": "upstream/model"},
    )  # fmt: skip
    nursery.start_soon(ProviderAgent(config).run)
    conn = await coord.next_connection()
    assert [m.id for m in conn.register.models] == ["llama-3-8b"]
    await conn.send(request("r1", model="llama-3-8b"))
    _, done = await conn.result("r1")
    assert (done.type, done.code, done.retryable) == ("error", "upstream_unavailable", True)
    assert upstream.requests[0]["model"] == "upstream/model"
