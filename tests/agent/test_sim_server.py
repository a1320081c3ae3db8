"""The simulated OpenAI-compatible server: its streams, bodies and errors, and as an upstream."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import jsonschema
import openai
import pydantic
import pytest
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


# ----------------------------------------------------------------- the official SDK

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
ASK = [{"role": "user", "content": "weather in Paris?"}]


class Forecast(pydantic.BaseModel):
    city: str
    days: list[int]
    warm: bool
    low: float


def sdk(server: SimOpenAIServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0)


async def test_sdk_accumulates_a_streamed_tool_call(nursery: trio.Nursery) -> None:
    client = sdk(await start(nursery))
    async with client.beta.chat.completions.stream(
        model="sim-small", messages=ASK, tools=[WEATHER_TOOL]
    ) as stream:
        streamed = await stream.get_final_completion()
    plain = await client.chat.completions.create(
        model="sim-small", messages=ASK, tools=[WEATHER_TOOL]
    )
    for reply in (streamed, plain):
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls"
        [call] = choice.message.tool_calls or []
        assert call.type == "function" and call.function.name == "get_weather"
        arguments = json.loads(call.function.arguments)
        jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])
    calls = [r.choices[0].message.tool_calls or [] for r in (streamed, plain)]
    assert [(c.id, c.function.name, c.function.arguments) for c in calls[0]] == [
        (c.id, c.function.name, c.function.arguments) for c in calls[1]
    ]
    assert plain.choices[0].message.content is None
    assert plain.usage is not None and plain.usage.completion_tokens > 1


async def test_sdk_parses_structured_output(nursery: trio.Nursery) -> None:
    client = sdk(await start(nursery))
    parsed = await client.beta.chat.completions.parse(
        model="sim-small", messages=ASK, response_format=Forecast
    )
    assert isinstance(parsed.choices[0].message.parsed, Forecast)
    schema = {"type": "object", "properties": {"n": {"type": "number", "minimum": 2.5}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    stream = await client.chat.completions.create(
        model="sim-small", messages=ASK, response_format=fmt, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    jsonschema.validate(json.loads(text), schema)
    mode = await client.chat.completions.create(
        model="sim-small", messages=ASK, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(mode.choices[0].message.content or ""), dict)


async def test_sdk_sees_reasoning_first_and_in_usage(nursery: trio.Nursery) -> None:
    client = sdk(await start(nursery))
    thinking = {"chat_template_kwargs": {"enable_thinking": True}}
    stream = await client.chat.completions.create(
        model="sim-small",
        messages=ASK,
        stream=True,
        stream_options={"include_usage": True},
        extra_body=thinking,
    )
    kinds: list[str] = []
    usage = None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            if extra.get("reasoning_content"):
                kinds.append("reasoning")
            if choice.delta.content:
                kinds.append("content")
    assert kinds == ["reasoning"] * 8 + ["content"] * 5
    assert usage is not None and usage.completion_tokens == 13
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 8
    reply = await client.chat.completions.create(
        model="sim-small", messages=ASK, extra_body=thinking
    )
    assert (reply.choices[0].message.model_extra or {})["reasoning_content"].startswith("think0")


async def test_sdk_gets_http_errors_before_and_error_events_after_the_first_token(
    nursery: trio.Nursery,
) -> None:
    client = sdk(await start(nursery))
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="sim-small",
            messages=ASK,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    failing = replace(INSTANT, fail_rate=1.0)
    with pytest.raises(openai.APIStatusError) as info:
        await sdk(await start(nursery, failing)).chat.completions.create(
            model="sim-small", messages=ASK, stream=True
        )
    assert info.value.status_code == 502
    late = sdk(await start(nursery, replace(failing, fail_after_tokens=2)))
    stream = await late.chat.completions.create(model="sim-small", messages=ASK, stream=True)
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="simulated backend failure"):
        async for chunk in stream:
            seen += [c.delta.content or "" for c in chunk.choices]
    assert "".join(seen) == simulated_text(2)
