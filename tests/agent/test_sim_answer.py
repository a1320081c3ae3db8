"""The simulated backend's answers: schema-valid tool arguments and JSON, reasoning, usage."""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.agent import BackendError, Finish, SimulatedBackend, SimulatedConfig
from switchyard.agent.backend import Deltas, Event
from switchyard.agent.sim_answer import JSON_OBJECT_ANSWER, reasoning_text
from switchyard.agent.sim_schema import example_object, example_value
from switchyard.agent.simulated import simulated_text

INSTANT = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, output_tokens=6)
USER = [{"role": "user", "content": "what is the weather in Paris"}]
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 5},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 3, "maximum": 7},
        "detailed": {"type": "boolean"},
        "where": {
            "type": "object",
            "properties": {"lat": {"type": "number", "minimum": 10.5}, "lon": {"type": "number"}},
            "required": ["lat"],
        },
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}


def tool(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


async def run(request: dict[str, Any], config: SimulatedConfig = INSTANT) -> list[Event]:
    return [e async for e in SimulatedBackend(config).generate("sim-small", request)]


def deltas(events: list[Event]) -> list[dict[str, Any]]:
    return [d for e in events if isinstance(e, Deltas) for d in e.items]


def counted(events: list[Event]) -> int:
    """Deltas carrying content, reasoning or tool-call arguments (the contract's rule)."""
    total = 0
    for d in deltas(events):
        args = [c.get("function", {}).get("arguments") for c in d.get("tool_calls", [])]
        total += bool(d.get("content") or d.get("reasoning_content") or any(args))
    return total


def accumulate_calls(events: list[Event]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for d in deltas(events):
        for c in d.get("tool_calls", []):
            slot = calls.setdefault(c["index"], {"id": None, "name": "", "arguments": ""})
            slot["id"] = c.get("id") or slot["id"]
            slot["name"] += c.get("function", {}).get("name", "")
            slot["arguments"] += c.get("function", {}).get("arguments", "")
    return [calls[i] for i in sorted(calls)]


async def test_plain_chat_is_unchanged_and_deterministic() -> None:
    events = await run({"messages": USER, "max_tokens": 100})
    assert deltas(events)[0] == {"role": "assistant"}
    assert "".join(d.get("content", "") for d in deltas(events)) == simulated_text(6)
    assert events[-1] == Finish(prompt_tokens=9, completion_tokens=6, finish_reason="stop")
    assert await run({"messages": USER, "max_tokens": 100}) == events
    cut = await run({"messages": USER, "max_completion_tokens": 2})
    assert cut[-1] == Finish(9, 2, "length")
    honouring = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, output_tokens=6, honor_stop=True)
    stopped = await run({"messages": USER, "stop": "tok2"}, honouring)
    assert stopped[-1] == Finish(9, 2, "stop", "tok2")


async def test_tool_call_streams_like_openai_with_schema_valid_arguments() -> None:
    request = {"messages": USER, "tools": [tool("get_weather", WEATHER), tool("other", {})]}
    events = await run(request)
    items = deltas(events)
    assert items[0] == {"role": "assistant"}
    head = items[1]["tool_calls"][0]
    assert head["index"] == 0 and head["type"] == "function"
    assert head["id"].startswith("call_")
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [d["tool_calls"][0]["function"]["arguments"] for d in items[2:]]
    assert len(fragments) > 1 and all(fragments)
    [call] = accumulate_calls(events)
    arguments = json.loads(call["arguments"])
    jsonschema.validate(arguments, WEATHER)
    assert set(arguments) == set(WEATHER["properties"])
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.finish_reason == "tool_calls"
    assert finish.completion_tokens == counted(events) == len(fragments)
    assert await run(request) == events  # same request, same id and arguments


async def test_tool_choice_picks_names_or_declines() -> None:
    tools = [tool("first", {"type": "object"}), tool("second", WEATHER)]
    named = {"type": "function", "function": {"name": "second"}}
    [call] = accumulate_calls(await run({"messages": USER, "tools": tools, "tool_choice": named}))
    assert call["name"] == "second"
    none = await run({"messages": USER, "tools": tools, "tool_choice": "none"})
    assert "".join(d.get("content", "") for d in deltas(none)) == simulated_text(6)
    answered = [*USER, {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    after_result = await run({"messages": answered, "tools": tools})
    assert isinstance(after_result[-1], Finish) and after_result[-1].finish_reason == "stop"
    forced = await run({"messages": answered, "tools": tools, "tool_choice": "required"})
    assert accumulate_calls(forced)[0]["name"] == "first"
    with pytest.raises(BackendError) as info:
        await run({"messages": USER, "tools": tools, "tool_choice": {"function": {"name": "x"}}})
    assert (info.value.status, info.value.retryable) == (400, False)


async def test_max_tokens_cuts_a_tool_call_with_length() -> None:
    events = await run({"messages": USER, "tools": [tool("get_weather", WEATHER)], "max_tokens": 3})
    assert events[-1] == Finish(9, 3, "length")
    assert counted(events) == 3


async def test_structured_output_and_json_mode() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER, "strict": True}}
    events = await run({"messages": USER, "response_format": fmt})
    text = "".join(d.get("content", "") for d in deltas(events))
    jsonschema.validate(json.loads(text), WEATHER)
    assert events[-1] == Finish(9, counted(events), "stop")
    mode = await run({"messages": USER, "response_format": {"type": "json_object"}})
    assert json.loads("".join(d.get("content", "") for d in deltas(mode))) == JSON_OBJECT_ANSWER


@pytest.mark.parametrize(
    "ask",
    [{"chat_template_kwargs": {"enable_thinking": True}}, {"reasoning_effort": "low"}],
)
async def test_reasoning_comes_first_and_counts(ask: dict[str, Any]) -> None:
    config = SimulatedConfig(ttft_s=0, tokens_per_s=math.inf, output_tokens=3, reasoning_tokens=4)
    events = await run({"messages": USER, **ask}, config)
    items = deltas(events)
    assert items[0] == {"role": "assistant"}
    assert [set(d) for d in items[1:]] == [{"reasoning_content"}] * 4 + [{"content"}] * 3
    assert "".join(d.get("reasoning_content", "") for d in items) == reasoning_text(4)
    assert events[-1] == Finish(9, 7, "stop", reasoning_tokens=4)
    off = await run({"messages": USER, "chat_template_kwargs": {"enable_thinking": False}}, config)
    assert off[-1] == Finish(9, 3, "stop")


# ----------------------------------------------------------------- schema generator

_NAMES = st.text("abcdefghij_", min_size=1, max_size=6)


@st.composite
def _integers(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    step = draw(st.sampled_from([None, 1, 2, 5]))
    low = draw(st.none() | st.integers(-1000, 1000))
    high = draw(st.none() | st.integers(0, 50).map(lambda w: (low or 0) + w + 2 * (step or 1)))
    if step:
        schema["multipleOf"] = step
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if high is not None:
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = high
    return schema


@st.composite
def _numbers(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    low = draw(st.none() | st.floats(-1e6, 1e6))
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["maximum"] = (low or 0.0) + draw(st.floats(2.0, 100.0))
    step = draw(st.sampled_from([None, 0.5, 0.25, 0.1]))
    if step:
        schema["multipleOf"] = step
    return schema


@st.composite
def _strings(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "format", "enum"]))
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(["date", "email", "uuid"]))}
    if kind == "enum":
        return {"type": "string", "enum": draw(st.lists(st.text(max_size=5), min_size=1))}
    low = draw(st.integers(0, 20))
    schema: dict[str, Any] = {"type": "string", "minLength": low}
    if draw(st.booleans()):
        schema["maxLength"] = low + draw(st.integers(0, 5))
    return schema


_LEAVES = st.one_of(
    _integers(),
    _numbers(),
    _strings(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({"type": ["string", "null"]}),
    st.builds(lambda v: {"const": v}, st.integers() | st.text(max_size=4)),
)


def _containers(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    @st.composite
    def objects(draw: st.DrawFn, closable: bool = True) -> dict[str, Any]:
        props = draw(st.dictionaries(_NAMES, children, max_size=4))
        required = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
        schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        if closable and draw(st.booleans()):
            schema["additionalProperties"] = False
        if closable and draw(st.booleans()):
            schema["maxProperties"] = len(required) + draw(st.integers(0, 2))
        return schema

    @st.composite
    def arrays(draw: st.DrawFn) -> dict[str, Any]:
        low = draw(st.integers(0, 3))
        schema = {"type": "array", "items": draw(children), "minItems": low}
        if draw(st.booleans()):
            schema["maxItems"] = low + draw(st.integers(0, 2))
        return schema

    nullable = st.builds(lambda s: {"anyOf": [{"type": "null"}, s]}, children)
    # a closed part would forbid the other's required properties: only open ones merge
    # (with their own property names: a property both constrain may be unsatisfiable)
    merged = st.builds(lambda a, b: {"allOf": [a, _renamed(b)]}, objects(False), objects(False))
    return st.one_of(objects(), arrays(), nullable, merged)


def _renamed(schema: dict[str, Any]) -> dict[str, Any]:
    props = {name + "2": sub for name, sub in schema["properties"].items()}
    return {**schema, "properties": props, "required": [r + "2" for r in schema["required"]]}


SCHEMAS = st.recursive(_LEAVES, _containers, max_leaves=12)


@st.composite
def _with_defs(draw: st.DrawFn) -> dict[str, Any]:
    """A schema whose parts live in `$defs` and are reached through `$ref`s."""
    defs = draw(st.dictionaries(_NAMES, SCHEMAS, min_size=1, max_size=3))
    props = {name: {"$ref": f"#/$defs/{name}"} for name in defs}
    return {"type": "object", "$defs": defs, "properties": props, "required": sorted(defs)}


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCHEMAS | _with_defs())
def test_example_values_are_valid_and_deterministic(schema: dict[str, Any]) -> None:
    value = example_value(schema)
    _validator(schema).validate(value)
    assert json.loads(json.dumps(value)) == value == example_value(schema)


@settings(max_examples=100, deadline=None)
@given(st.builds(lambda s: {"type": "object", "properties": {"x": s}, "required": ["x"]}, SCHEMAS))
def test_tool_arguments_are_valid_objects(schema: dict[str, Any]) -> None:
    arguments = example_object(schema)
    _validator(schema).validate(arguments)


@pytest.mark.parametrize(
    "schema", [None, [], {"type": 7}, {"$ref": "#/nowhere"}, {"properties": 3}, {"items": "x"}]
)
def test_malformed_schemas_give_a_value_not_an_exception(schema: Any) -> None:
    json.dumps(example_value(schema))
    assert isinstance(example_object(schema), dict)
