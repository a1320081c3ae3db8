"""The openai backend against a local OpenAI-compatible streaming server, alone and in an agent."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import trio

from switchyard.agent import (
    BackendError,
    Deltas,
    Finish,
    OpenAIBackend,
    ProviderAgent,
)
from switchyard.agent.backend import Event
from switchyard.protocol.frames import ModelSpec
from switchyard.protocol.provider_frames import ModelCapabilities
from switchyard.protocol.vocabulary import Support

from .fake_openai import FakeOpenAI
from .fakecoord import FakeCoordinator
from .test_agent_session import make_config, request

BODY: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ],
    "max_tokens": 16,
    "temperature": 0.5,
    "stop": ["\n\n"],
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def collect(
    backend: OpenAIBackend, model: str = "m", body: dict[str, Any] | None = None
) -> list[Event]:
    try:
        return [event async for event in backend.generate(model, body or BODY)]
    finally:
        await backend.aclose()


def chunk(*choices: dict[str, Any], **extra: Any) -> str:
    return (
        f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': choices, **extra})}\n\n"
    )


async def serve(nursery: trio.Nursery, **kwargs: object) -> FakeOpenAI:
    upstream = FakeOpenAI(**kwargs)  # type: ignore[arg-type]
    await nursery.start(upstream.run)
    return upstream


async def test_streams_tokens_and_maps_usage(nursery: trio.Nursery) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    upstream = await serve(nursery, finish_reason="length", usage=usage)
    backend = OpenAIBackend(upstream.url, api_key="up-key", model_map={"m": "upstream/model"})
    events = await collect(backend)
    assert events == [
        Deltas([{"role": "assistant"}]),
        Deltas([{"content": "Hello"}]),
        Deltas([{"content": " world"}]),
        Deltas([{"content": "!"}]),
        Finish(11, 3, "length"),
    ]
    assert upstream.requests[0] == {**BODY, "model": "upstream/model"}
    assert upstream.headers[0]["authorization"] == "Bearer up-key"


async def test_the_body_goes_upstream_whole_and_no_max_tokens_is_invented(
    nursery: trio.Nursery,
) -> None:
    upstream = await serve(nursery)
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "logprobs": True,
        "top_k": 3,
        "chat_template_kwargs": {"enable_thinking": True},
    }
    await collect(OpenAIBackend(upstream.url), body=body)
    sent = upstream.requests[0]
    assert "max_tokens" not in sent
    assert sent == {**body, "stream": True, "stream_options": {"include_usage": True}}


async def test_every_kind_of_delta_is_relayed(nursery: trio.Nursery) -> None:
    logprob = {"token": "a", "logprob": float("-inf"), "bytes": [97], "top_logprobs": []}
    events = (
        chunk({"index": 0, "delta": {"reasoning_content": "think", "content": None}}),
        chunk({"index": 0, "delta": {"reasoning": "more", "tool_calls": []}}),
        chunk(
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": None},
                        }
                    ]
                },
            }
        ),
        chunk({"index": 0, "delta": {"content": "a"}, "logprobs": {"content": [logprob]}}),
        chunk({"index": 0, "delta": {"refusal": "no"}, "finish_reason": "tool_calls"}),
        chunk(
            usage={
                "prompt_tokens": 4,
                "completion_tokens": 9,
                "completion_tokens_details": {"reasoning_tokens": 5},
                "prompt_tokens_details": {"cached_tokens": 2},
            }
        ),
    )
    upstream = await serve(nursery, pieces=(), extra_events=events, finish_reason="tool_calls")
    got = await collect(OpenAIBackend(upstream.url))
    items = [d for e in got if isinstance(e, Deltas) for d in e.items]
    assert items == [
        {"role": "assistant"},
        {"reasoning_content": "think"},
        {"reasoning_content": "more"},
        {"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}]},
        {"content": "a", "logprobs": {"content": [{**logprob, "logprob": -9999.0}]}},
        {"refusal": "no"},
    ]
    assert got[-1] == Finish(4, 9, "tool_calls", None, 5, 2)


async def test_several_choices_carry_their_index_and_finish(nursery: trio.Nursery) -> None:
    events = (
        chunk({"index": 0, "delta": {"content": "A"}}, {"index": 1, "delta": {"content": "b"}}),
        chunk({"index": 1, "delta": {}, "finish_reason": "length"}),
    )
    upstream = await serve(nursery, pieces=(), extra_events=events)
    got = await collect(OpenAIBackend(upstream.url), body={**BODY, "n": 2})
    items = [d for e in got if isinstance(e, Deltas) for d in e.items]
    assert items == [
        {"role": "assistant"},
        {"content": "A"},
        {"index": 1, "content": "b"},
        {"index": 1, "finish_reason": "length"},
        {"finish_reason": "stop"},
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"index": 0, "delta": {"tool_calls": [{"index": "zero"}]}},
        {"index": 500, "delta": {"content": "x"}},
        {"index": 0, "delta": {"content": "x"}, "logprobs": {"content": [{"token": 1}]}},
    ],
)
async def test_a_chunk_the_wire_cannot_carry_fails_the_request(
    nursery: trio.Nursery, bad: dict[str, Any]
) -> None:
    upstream = await serve(nursery, extra_events=(chunk(bad),))
    with pytest.raises(BackendError) as info:
        await collect(OpenAIBackend(upstream.url))
    assert (info.value.code, info.value.retryable) == ("upstream_bad_response", False)


async def test_usage_fallback_when_the_server_sends_none(nursery: trio.Nursery) -> None:
    upstream = await serve(nursery, pieces=("a", "b", "c", "d"), finish_reason="function_call")
    events = await collect(OpenAIBackend(upstream.url))
    assert events[-1] == Finish(prompt_tokens=2 + 3 + 2 + 3, completion_tokens=4,
                                finish_reason="tool_calls")  # fmt: skip


@pytest.mark.parametrize(
    ("status", "code", "retryable", "passed_on"),
    [
        (500, "upstream_unavailable", True, None),
        (429, "upstream_unavailable", True, None),
        (404, "upstream_unavailable", True, None),
        (401, "upstream_unavailable", True, None),
        (400, "upstream_rejected", False, 400),
        (422, "upstream_rejected", False, 422),
    ],
)
async def test_http_errors(
    nursery: trio.Nursery, status: int, code: str, retryable: bool, passed_on: int | None
) -> None:
    upstream = await serve(nursery, status=status)
    with pytest.raises(BackendError) as info:
        await collect(OpenAIBackend(upstream.url))
    got = (info.value.code, info.value.retryable, info.value.status)
    assert got == (code, retryable, passed_on)
    assert "nope" in info.value.message  # the upstream's own message


async def test_an_error_event_before_output_with_a_4xx_code_is_a_refusal(
    nursery: trio.Nursery,
) -> None:
    error = 'data: {"error": {"message": "bad schema", "code": 400}}\n\n'
    upstream = await serve(nursery, pieces=(), extra_events=(error,))
    with pytest.raises(BackendError) as info:
        await collect(OpenAIBackend(upstream.url))
    assert (info.value.status, info.value.retryable, info.value.message) == (
        400,
        False,
        "bad schema",
    )


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
    served = ModelCapabilities(completions=Support.YES, embeddings=Support.NO)  # probed
    assert conn.register.models == [
        ModelSpec(id="llama", slots=2, context_length=4096, capabilities=served)
    ]

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
