"""The simulated OpenAI-compatible server: its streams, bodies and errors, and as an upstream."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from switchyard.agent import Deltas, Finish, OpenAIBackend, SimulatedBackend, SimulatedConfig
from switchyard.agent.sim_server import SimOpenAIServer
from switchyard.agent.simulated import simulated_text

INSTANT = SimulatedConfig(ttft_s=0.0, tokens_per_s=float("inf"), output_tokens=5)


async def start(nursery: trio.Nursery, config: SimulatedConfig = INSTANT) -> SimOpenAIServer:
    server = SimOpenAIServer(SimulatedBackend(config, ("sim-small",)))
    await nursery.start(server.run)
    return server


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}], **extra}


def sse_payloads(text: str) -> list[Any]:
    out: list[Any] = []
    for event in text.split("\n\n"):
        if event.startswith("data: "):
            data = event[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def test_stream_is_openai_shaped_with_usage(nursery: trio.Nursery) -> None:
    server = await start(nursery)
    async with httpx.AsyncClient(base_url=server.url) as http:
        body = chat(stream=True, stream_options={"include_usage": True})
        resp = await http.post("/chat/completions", json=body)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream"
    events = sse_payloads(resp.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == simulated_text(5)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}


async def test_non_stream_body_and_length_cut(nursery: trio.Nursery) -> None:
    server = await start(nursery)
    async with httpx.AsyncClient(base_url=server.url) as http:
        resp = await http.post("/chat/completions", json=chat(max_tokens=3))
    assert resp.status_code == 200
    reply = resp.json()
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["content"] == simulated_text(3)
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 3


async def test_errors_and_keep_alive(nursery: trio.Nursery) -> None:
    server = await start(nursery)
    async with httpx.AsyncClient(base_url=server.url) as http:
        unknown = await http.post("/chat/completions", json={**chat(), "model": "nope"})
        bad = await http.post("/chat/completions", content=b"{not json")
        missing = await http.get("/nowhere")
        models = await http.get("/models")
        ok = await http.post("/chat/completions", json=chat(stream=True))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert bad.status_code == 400
    assert missing.status_code == 404
    assert [m["id"] for m in models.json()["data"]] == ["sim-small"]
    assert ok.status_code == 200
    assert server.requests == 5  # all five on the client's kept-alive connection(s)


async def test_serves_as_an_openai_backend_upstream(nursery: trio.Nursery) -> None:
    config = SimulatedConfig(ttft_s=0.0, tokens_per_s=1000.0, output_tokens=4)
    server = await start(nursery, config)
    backend = OpenAIBackend(server.url)
    request = {"messages": [{"role": "user", "content": "two words"}], "max_tokens": 16}
    try:
        assert [m.id for m in await backend.list_models()] == ["sim-small"]
        events = [e async for e in backend.generate("sim-small", request)]
    finally:
        await backend.aclose()
    pieces = [
        d["content"] for e in events if isinstance(e, Deltas) for d in e.items if "content" in d
    ]
    assert "".join(pieces) == simulated_text(4)
    assert len(pieces) == 4
    assert isinstance(events[-1], Finish)
    assert events[-1].completion_tokens == 4
    assert events[-1].finish_reason == "stop"
