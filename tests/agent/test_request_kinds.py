"""The request kinds beyond chat on the agent side: the simulator and its server, the
openai backend against that server (real sockets) and against malformed upstream
answers, and embedding batches split across frames."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import httpx
import openai
import pytest
import trio

from switchyard.agent import (
    Deltas,
    Finish,
    OpenAIBackend,
    SimulatedBackend,
    SimulatedConfig,
    upstream_calls,
)
from switchyard.agent.backend import BackendError, Event
from switchyard.agent.sim_kinds import sim_embedding
from switchyard.agent.sim_server import SimOpenAIServer
from switchyard.agent.streaming import fit_deltas
from switchyard.protocol.chunk_codec import MAX_ADD_BYTES, encode_deltas
from switchyard.protocol.limits import MAX_EMBEDDING_DIMENSIONS, MAX_EMBEDDING_INPUTS
from switchyard.protocol.provider_frames import Delta
from switchyard.protocol.vocabulary import RequestKind, StreamErrorCode

INSTANT = SimulatedConfig(ttft_s=0.0, tokens_per_s=float("inf"), output_tokens=3)
MODELS = ("sim-small", "sim-embed")


async def run(backend: Any, model: str, body: dict[str, Any], kind: RequestKind) -> list[Event]:
    return [event async for event in backend.generate(model, body, kind)]


def floats(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


async def test_simulator_answers_every_kind() -> None:
    sim = SimulatedBackend(INSTANT, MODELS)
    events = await run(
        sim, "sim-embed", {"input": ["a b", [1, 2, 3]], "dimensions": 5}, RequestKind.EMBEDDING
    )
    (deltas, finish) = events
    assert isinstance(deltas, Deltas) and finish == Finish(2 + 3, 0, "stop")
    vectors = [floats(d["embedding"]["b64"]) for d in deltas.items]
    assert [d["embedding"]["index"] for d in deltas.items] == [0, 1]
    assert vectors[0] == pytest.approx(sim_embedding("a b", 5), abs=1e-6)
    assert len(vectors[1]) == 5
    for item in deltas.items:
        Delta.model_validate(item)  # what the wire accepts
    body = {"prompt": ["x", "y"], "n": 2, "echo": True, "max_tokens": 2}
    events = await run(sim, "sim-small", body, RequestKind.COMPLETION)
    texts: dict[int, str] = {}
    for event in events:
        if isinstance(event, Deltas):
            for d in event.items:
                texts[d.get("index", 0)] = texts.get(d.get("index", 0), "") + d.get("content", "")
    assert texts == {i: "xy"[i // 2] + "tok0 tok1" for i in range(4)}
    assert events[-1] == Finish(2, 8, "length")
    chat = {"messages": [{"role": "user", "content": "one two three"}]}
    assert await run(sim, "sim-small", chat, RequestKind.TOKENIZE) == [Finish(6, 0, "stop")]
    with pytest.raises(BackendError) as caught:
        await run(sim, "sim-small", {"input": "x"}, RequestKind.EMBEDDING)
    assert caught.value.status == 400
    with pytest.raises(BackendError):
        await run(sim, "sim-embed", chat, RequestKind.CHAT)


async def test_sim_server_serves_the_kinds_to_the_sdk_and_to_the_openai_backend(
    nursery: trio.Nursery,
) -> None:
    server = SimOpenAIServer(SimulatedBackend(INSTANT, MODELS))
    await nursery.start(server.run)
    async with openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0) as client:
        embedded = await client.embeddings.create(model="sim-embed", input=["hi"], dimensions=3)
        assert embedded.data[0].embedding == pytest.approx(sim_embedding("hi", 3), abs=1e-6)
        done = await client.completions.create(model="sim-small", prompt="p", max_tokens=2)
        assert done.choices[0].text == "tok0 tok1" and done.choices[0].finish_reason == "length"
        stream = await client.completions.create(
            model="sim-small", prompt="p", max_tokens=2, stream=True
        )
        assert "".join([c.choices[0].text async for c in stream if c.choices]) == "tok0 tok1"
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as raw:
        for route, bad in (
            ("/embeddings", {"model": "sim-embed", "input": "x", "dimensions": "9"}),
            ("/embeddings", {"model": "sim-embed", "input": []}),
            ("/completions", {"model": "sim-small", "prompt": [], "stream": True}),
            ("/completions", {"model": "sim-small", "prompt": "p", "stream_options": [1]}),
        ):
            resp = await raw.post(route, json=bad)
            assert resp.status_code == 400, (route, bad, resp.text)
    backend = OpenAIBackend(server.url)
    try:
        events = await run(backend, "sim-embed", {"input": "hi"}, RequestKind.EMBEDDING)
        assert isinstance(events[0], Deltas) and events[-1] == Finish(1, 0, "stop")
        vector = floats(events[0].items[0]["embedding"]["b64"])
        assert vector == pytest.approx(sim_embedding("hi", 16), abs=1e-6)
        chat = {"messages": [{"role": "user", "content": "a b"}]}
        assert await run(backend, "sim-small", chat, RequestKind.TOKENIZE) == [Finish(5, 0, "stop")]
        events = await run(
            backend, "sim-small", {"prompt": "p", "max_tokens": 3}, RequestKind.COMPLETION
        )
        text = "".join(
            d.get("content", "") for e in events if isinstance(e, Deltas) for d in e.items
        )
        assert text == "tok0 tok1 tok2" and events[-1] == Finish(1, 3, "stop")
    finally:
        await backend.aclose()


def mocked(handler: Any) -> OpenAIBackend:
    """An openai backend whose upstream answers with `handler` (a fake at the outer edge)."""
    backend = OpenAIBackend("http://upstream.test/v1")
    backend._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return backend


def answering(payload: Any, status: int = 200) -> OpenAIBackend:
    return mocked(lambda request: httpx.Response(status, json=payload))


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"data": []}, StreamErrorCode.UPSTREAM_BAD_RESPONSE),  # fewer than the inputs
        ({"data": [{"index": 0, "embedding": [1.0, "x"]}]}, StreamErrorCode.UPSTREAM_BAD_RESPONSE),
        ({"data": [{"index": 3, "embedding": [1.0]}]}, StreamErrorCode.UPSTREAM_BAD_RESPONSE),
        ({"data": [{"index": 0, "embedding": [0.5] * (MAX_EMBEDDING_DIMENSIONS + 1)}]},
         StreamErrorCode.UPSTREAM_BAD_RESPONSE),
        ({"data": [{"index": 0, "embedding": "not base64!"}]},
         StreamErrorCode.UPSTREAM_BAD_RESPONSE),
        ({"data": [{"index": 0, "embedding": [1e300]}]}, StreamErrorCode.UPSTREAM_BAD_RESPONSE),
    ],
)  # fmt: skip
async def test_malformed_embeddings_fail_the_request(payload: Any, code: str) -> None:
    backend = answering(payload)
    with pytest.raises(BackendError) as caught:
        await run(backend, "m", {"input": "x"}, RequestKind.EMBEDDING)
    assert caught.value.code == code
    await backend.aclose()


async def test_upstream_answers_base64_and_its_refusals_pass_on() -> None:
    packed = base64.b64encode(struct.pack("<2f", 0.5, -2.0)).decode()
    backend = answering({"data": [{"index": 0, "embedding": packed}]})
    events = await run(backend, "m", {"input": "x"}, RequestKind.EMBEDDING)
    assert events == [Deltas([{"embedding": {"index": 0, "b64": packed}}]), Finish(0, 0, "stop")]
    refusing = answering({"message": "does not support Embeddings API"}, status=400)
    with pytest.raises(BackendError) as caught:
        await run(refusing, "m", {"input": "x"}, RequestKind.EMBEDDING)
    assert caught.value.status == 400 and "Embeddings" in caught.value.message
    too_many = answering({})
    with pytest.raises(BackendError) as caught:
        inputs = ["x"] * (MAX_EMBEDDING_INPUTS + 1)
        await run(too_many, "m", {"input": inputs}, RequestKind.EMBEDDING)
    assert caught.value.status == 400
    for b in (backend, refusing, too_many):
        await b.aclose()


async def test_a_batch_whose_answer_is_too_large_is_a_400(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_calls, "MAX_EMBEDDING_OUTPUT_CHARS", 30)
    backend = answering({"data": [{"index": i, "embedding": [0.5] * 4} for i in range(2)]})
    with pytest.raises(BackendError) as caught:
        await run(backend, "m", {"input": ["a", "b"]}, RequestKind.EMBEDDING)
    assert caught.value.status == 400 and "split it" in caught.value.message
    await backend.aclose()


async def test_llama_cpp_token_counts_go_through_its_chat_template() -> None:
    seen: list[tuple[str, Any]] = []

    def llama(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        if request.url.path == "/apply-template":
            return httpx.Response(200, json={"prompt": "<|user|>hi<|end|>"})
        tokens = [1, 2, 3, 4] if "content" in body else []
        return httpx.Response(200, json={"tokens": tokens})

    backend = mocked(llama)
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert await run(backend, "m", chat, RequestKind.TOKENIZE) == [Finish(4, 0, "stop")]
    assert [path for path, _ in seen] == ["/tokenize", "/apply-template", "/tokenize"]
    assert seen[2][1]["content"] == "<|user|>hi<|end|>"
    await backend.aclose()
    for status in (404, 405, 501):  # no tokenizer: a neutral refusal, not a failure
        failing = answering({"detail": "Not Found"}, status=status)
        with pytest.raises(BackendError) as caught:
            await run(failing, "m", chat, RequestKind.TOKENIZE)
        assert (caught.value.status, caught.value.retryable) == (404, False)
        await failing.aclose()
    no_count = answering({"tokens": []})  # llama.cpp-like, but no /apply-template answer
    with pytest.raises(BackendError) as caught:
        await run(no_count, "m", chat, RequestKind.TOKENIZE)
    assert caught.value.status == 404
    await no_count.aclose()


def test_a_large_embedding_batch_travels_in_several_frames() -> None:
    vector = struct.pack(f"<{4096}f", *([0.25] * 4096))
    piece = base64.b64encode(vector).decode()
    deltas = [{"embedding": {"index": i, "b64": piece}} for i in range(64)]
    groups = fit_deltas(deltas)
    assert len(groups) > 1
    assert [d for g in groups for d in g] == deltas
    assert all(len(encode_deltas(g)) <= MAX_ADD_BYTES for g in groups)
