"""`/v1/responses` through the official OpenAI SDK, a coordinator and a real `--backend
openai` agent in front of the recording fake upstream: what the upstream received (a chat
body) and what the client got (Responses items, events and usage)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from ..polling import wait_until
from .fake_upstream import CONTEXT_ERROR, REASONING_PIECES, TOOL_CALLS, USAGE
from .test_openai_passthrough import MODEL, through_agents

FLAT_TOOLS = [
    {
        "type": "function",
        "name": name,
        "description": "look it up",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    for name in ("get_weather", "get_time")
]
CHAT_TOOLS = [
    {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
    for tool in FLAT_TOOLS
]
PNG = "data:image/png;base64,iVBORw0KGgo="


def usage_of(response: Any) -> tuple[int, int, int, int, int]:
    u = response.usage
    return (
        u.input_tokens, u.input_tokens_details.cached_tokens, u.output_tokens,
        u.output_tokens_details.reasoning_tokens, u.total_tokens,
    )  # fmt: skip


async def test_string_input_and_instructions_become_a_chat_request() -> None:
    async with through_agents() as (_, upstream, client):
        reply = await client.responses.create(
            model=MODEL, input="text", instructions="be terse", temperature=0.5, top_p=0.9,
            user="alice@example.com", metadata={"k": "v"},
        )  # fmt: skip
    assert reply.output_text == "Hello world"
    assert reply.status == "completed" and reply.id.startswith("resp_")
    assert reply.instructions == "be terse" and reply.metadata == {"k": "v"}
    message = reply.output[0]
    assert message.type == "message" and message.status == "completed"
    assert usage_of(reply) == (21, 0, 7, 0, 28)
    (got,) = upstream.bodies
    assert got["messages"] == [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": "text"},
    ]
    assert (got["temperature"], got["top_p"]) == (0.5, 0.9)
    assert got["stream"] is True and got["stream_options"] == {"include_usage": True}
    assert "user" not in got and "metadata" not in got and "store" not in got


async def test_item_input_with_images() -> None:
    content = [
        {"type": "input_text", "text": "image"},
        {"type": "input_image", "image_url": PNG, "detail": "auto"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
    ]
    history = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
    ]
    async with through_agents() as (_, upstream, client):
        reply = await client.responses.create(
            model=MODEL, input=[*history, {"role": "user", "content": content}]
        )
    assert reply.output_text == "I see 2 images"
    assert upstream.bodies[0]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "image"},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "auto"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                },
            ],
        },
    ]


async def test_function_tools_round_trip() -> None:
    async with through_agents() as (_, upstream, client):
        reply = await client.responses.create(
            model=MODEL, input="tools", tools=FLAT_TOOLS, tool_choice="auto",
            parallel_tool_calls=True,
        )  # fmt: skip
        calls = [item for item in reply.output if item.type == "function_call"]
        assert [(c.call_id, c.name, c.arguments) for c in calls] == [
            (t["id"], t["function"]["name"], t["function"]["arguments"]) for t in TOOL_CALLS
        ]
        assert all(c.status == "completed" for c in calls) and reply.output_text == ""
        outputs = [
            {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
            {
                "type": "function_call_output",
                "call_id": "call_b",
                "output": [{"type": "input_text", "text": "noon"}],
            },
        ]
        again = await client.responses.create(
            model=MODEL, input=[{"role": "user", "content": "weather?"}, *reply.output, *outputs],
            tools=FLAT_TOOLS, tool_choice={"type": "function", "name": "get_time"},
        )  # fmt: skip
        assert again.output_text == "Hello world"
    first, second = upstream.bodies
    assert first["tools"] == CHAT_TOOLS
    assert (first["tool_choice"], first["parallel_tool_calls"]) == ("auto", True)
    assert second["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert second["messages"] == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": TOOL_CALLS},
        {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "noon"}]},
    ]


async def test_json_schema_text_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    text = {"format": {"type": "json_schema", "name": "a", "schema": schema, "strict": True}}
    async with through_agents() as (_, upstream, client):
        reply = await client.responses.create(model=MODEL, input="text", text=text)  # type: ignore[arg-type]
        await client.responses.create(
            model=MODEL, input="text", text={"format": {"type": "json_object"}}
        )
    assert reply.text is not None and reply.text.format.type == "json_schema"
    first, second = upstream.bodies
    assert first["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "a", "schema": schema, "strict": True},
    }
    assert second["response_format"] == {"type": "json_object"}


async def test_reasoning_becomes_a_reasoning_item() -> None:
    thoughts = "".join(f"r{i} " for i in range(REASONING_PIECES))
    async with through_agents() as (_, upstream, client):
        reply = await client.responses.create(
            model=MODEL, input="reasoning", reasoning={"effort": "low", "summary": "auto"}
        )
        async with client.responses.stream(
            model=MODEL, input="reasoning", reasoning={"effort": "high"}
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
    for answer in (reply, final):
        kinds = [item.type for item in answer.output]
        assert kinds == ["reasoning", "message"]
        reasoning = answer.output[0]
        assert reasoning.type == "reasoning" and reasoning.content is not None
        assert reasoning.content[0].text == thoughts and reasoning.summary == []
        assert answer.output_text == "42"
        assert usage_of(answer) == (11, 0, REASONING_PIECES + 1, REASONING_PIECES, 42)
    deltas = [e for e in events if e.type == "response.reasoning_text.delta"]
    assert len(deltas) == REASONING_PIECES  # one event per upstream piece
    assert [b["reasoning_effort"] for b in upstream.bodies] == ["low", "high"]


async def test_max_output_tokens_makes_an_incomplete_response() -> None:
    async with through_agents() as (_, upstream, client):
        reply = await client.responses.create(model=MODEL, input="length", max_output_tokens=20)
        stream = await client.responses.create(
            model=MODEL, input="length", max_output_tokens=20, stream=True
        )
        events = [event async for event in stream]
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None
    assert reply.incomplete_details.reason == "max_output_tokens"
    assert reply.output_text == "Hello wor" and reply.output[0].status == "incomplete"
    assert reply.max_output_tokens == 20
    assert [b["max_tokens"] for b in upstream.bodies] == [20, 20]
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "max_output_tokens"


async def test_streaming_accumulates_text_incrementally() -> None:
    async with through_agents() as (_, _upstream, client):
        async with client.responses.stream(model=MODEL, input="text") as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
    assert final.output_text == "Hello world" and final.status == "completed"
    assert usage_of(final) == (21, 0, 7, 0, 28)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == [
        "Hello",
        " world",
    ]


async def test_streaming_accumulates_function_call_arguments() -> None:
    async with through_agents() as (_, _upstream, client):
        async with client.responses.stream(model=MODEL, input="tools", tools=FLAT_TOOLS) as s:  # type: ignore[arg-type]
            events = [event async for event in s]
            final = await s.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        (t["id"], t["function"]["name"], t["function"]["arguments"]) for t in TOOL_CALLS
    ]
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(deltas) > 4
    snapshots = {e.item_id: e.snapshot for e in deltas}  # the SDK's own accumulation
    assert sorted(snapshots.values()) == sorted(t["function"]["arguments"] for t in TOOL_CALLS)
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in done] == [t["function"]["arguments"] for t in TOOL_CALLS]


async def test_errors_come_in_the_openai_shape() -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "include": ["reasoning.encrypted_content"]}, "include"),
        ({"input": "x", "truncation": "auto"}, "truncation"),
        ({"input": "x", "text": {"verbosity": "low"}}, "text.verbosity"),
        ({"input": "x", "extra_body": {"frobnicate": 1}}, "frobnicate"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        (
            {
                "input": [
                    {"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x"}]}
                ]
            },
            "input[0].content[0].image_url",
        ),
        (
            {"input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]},
            "input[0].call_id",
        ),
        ({"input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
    ]
    async with through_agents() as (_, upstream, client):
        for body, param in bad:
            with pytest.raises(openai.BadRequestError) as caught:
                await client.responses.create(model=MODEL, **body)
            error = caught.value.body
            assert isinstance(error, dict) and error["param"] == param, (body, error)
            assert caught.value.status_code == 400 and error["type"] == "invalid_request_error"
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model=MODEL, input="context")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["message"] == CONTEXT_ERROR
        assert caught.value.body["code"] == "upstream_rejected"
        with pytest.raises(openai.APIStatusError) as failed:
            await client.responses.create(model=MODEL, input="error_first", stream=True)
        assert failed.value.status_code == 502
        stream = await client.responses.create(model=MODEL, input="midstream", stream=True)
        events = [event async for event in stream]
        assert [e.type for e in events[-2:]] == ["error", "response.failed"]
        failed_response = events[-1].response  # type: ignore[union-attr]
        assert failed_response.status == "failed" and failed_response.error is not None
        assert failed_response.error.code == "server_error"
    sent = {b["messages"][-1]["content"] for b in upstream.bodies}
    assert sent == {"context", "error_first", "midstream"}  # no refused request got through


async def test_usage_is_billed_exactly_as_chat() -> None:
    price = {"input_micro_usd_per_mtok": 1_000_000, "output_micro_usd_per_mtok": 2_000_000}
    async with through_agents() as (running, _upstream, client):
        await running.admin.put(f"/admin/pricing/{MODEL}", json=price)
        key = await running.coord.store.lookup_api_key(client.api_key)
        assert key is not None
        before = await running.coord.store.get_account(key.account_id)
        await client.responses.create(model=MODEL, input="text")
        async with client.responses.stream(model=MODEL, input="text") as stream:
            await stream.get_final_response()

        async def settled() -> list[Any] | None:
            usage = await running.coord.store.recent_usage(key.account_id)
            return usage if len(usage) == 2 else None

        usage = await wait_until(settled, timeout=5)
        after = await running.coord.store.get_account(key.account_id)
    each = USAGE["prompt_tokens"] * 1 + USAGE["completion_tokens"] * 2
    assert [(u.prompt_tokens, u.completion_tokens, u.cost_micro_usd) for u in usage] == [
        (USAGE["prompt_tokens"], USAGE["completion_tokens"], each)
    ] * 2
    assert before is not None and after is not None
    assert before.balance_micro_usd - after.balance_micro_usd == 2 * each


async def test_malformed_bodies_and_keys_are_typed_4xx() -> None:
    async with through_agents() as (running, upstream, client):
        headers = {"Authorization": f"Bearer {client.api_key}"}
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
            cases: list[tuple[bytes, int, str | None]] = [
                (b"not json", 400, "invalid_json"),
                (b"[]", 400, "invalid_json"),
                (b'{"model": "m1"}', 400, "invalid_value"),
                (b'{"model": "m1", "input": 5}', 400, "invalid_value"),
                (b'{"model": "m1", "input": "\\udc00"}', 400, "invalid_value"),
                (b'{"model": "m1", "input": "' + b"x" * (5 * 2**20) + b'"}', 413, None),
            ]
            for raw, status, code in cases:
                answer = await http.post("/v1/responses", content=raw, headers=headers)
                assert answer.status_code == status, (raw[:40], answer.text)
                error = answer.json()["error"]
                assert set(error) == {"message", "type", "param", "code"}
                assert code is None or error["code"] == code
            unauthorized = await http.post("/v1/responses", json={"model": MODEL, "input": "x"})
            assert unauthorized.status_code == 401
            assert unauthorized.json()["error"]["code"] == "invalid_api_key"
            for query, param in (
                ("stream=true", "stream"),
                ("starting_after=3", "starting_after"),
                ("include[]=message.output_text.logprobs", "include"),
                ("fields=all", "fields"),  # unknown: refused, never ignored
            ):
                got = await http.get(f"/v1/responses/resp_x?{query}", headers=headers)
                assert got.status_code == 400 and got.json()["error"]["param"] == param, query
            plain = await http.get(
                "/v1/responses/resp_x?include_obfuscation=false", headers=headers
            )
            assert plain.status_code == 404  # accepted; no such response
    assert upstream.bodies == []
