"""Chat deltas → Anthropic message: the SDK's stream accumulator must equal the JSON body."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from anthropic.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.protocol.anthropic_stream import AnthropicRenderer
from switchyard.protocol.errors import provider_failed

from .sse import anthropic_client, parse_sse

USER = {"role": "user", "content": "Hi"}
Deltas = Sequence[dict[str, Any]]


def call(index: int, call_id: str, name: str, *fragments: str) -> list[dict[str, Any]]:
    """One tool call as OpenAI streams it: id and name first, then argument fragments."""
    head = {"index": index, "id": call_id, "type": "function"}
    out = [{"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]}]
    out += [{"tool_calls": [{"index": index, "function": {"arguments": f}}]} for f in fragments]
    return out


def render(
    batches: Sequence[Deltas],
    finish: str,
    *,
    stream: bool,
    stops: Sequence[str] = (),
    reported: str | None = None,
    **usage: int,
) -> tuple[bytes, AnthropicRenderer]:
    r = AnthropicRenderer("qwen", stream=stream, stop_sequences=stops, message_id="msg_1")
    out = b"".join(r.feed(batch) for batch in batches)
    counts = {"prompt_tokens": 11, "completion_tokens": 7, **usage}
    out += r.finish(finish, stop_sequence=reported, **counts)
    return out, r


def both(batches: Sequence[Deltas], finish: str, **kw: Any) -> Message:
    """Render streamed and not; the SDK's accumulated message must equal the body."""
    sse, _ = render(batches, finish, stream=True, **kw)
    for name, data in parse_sse(sse):
        assert json.loads(data)["type"] == name
    client = anthropic_client(sse, sse=True)
    with client.messages.stream(model="qwen", max_tokens=64, messages=[USER]) as events:
        streamed = events.get_final_message()
    quiet, renderer = render(batches, finish, stream=False, **kw)
    assert quiet == b""
    body = renderer.message()
    via_sdk = anthropic_client(json.dumps(body).encode()).messages.create(
        model="qwen", max_tokens=64, messages=[USER]
    )
    assert Message.model_validate(streamed.to_dict()) == via_sdk
    return via_sdk


def test_text() -> None:
    msg = both([[{"role": "assistant"}, {"content": "Hel"}], [{"content": "lo"}]], "stop")
    assert [(b.type, getattr(b, "text", None)) for b in msg.content] == [("text", "Hello")]
    assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (11, 7)


def test_thinking_then_text() -> None:
    deltas = [{"reasoning_content": "Let me "}, {"reasoning_content": "think."}, {"content": "42"}]
    msg = both([deltas], "stop", reasoning_tokens=3, cached_tokens=4)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    thinking = msg.content[0]
    assert thinking.type == "thinking"
    assert (thinking.thinking, thinking.signature) == ("Let me think.", "")
    usage = msg.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (7, 4, 7)
    assert usage.output_tokens_details is not None
    assert usage.output_tokens_details.thinking_tokens == 3


def test_thinking_block_closes_with_a_signature_delta() -> None:
    sse, _ = render([[{"reasoning_content": "hm"}, {"content": "ok"}]], "stop", stream=True)
    deltas = [
        json.loads(d)["delta"]["type"] for n, d in parse_sse(sse) if n == "content_block_delta"
    ]
    assert deltas == ["thinking_delta", "signature_delta", "text_delta"]


def test_two_parallel_tool_calls() -> None:
    deltas = [
        {"content": "Checking."},
        *call(0, "call_a", "get_weather", '{"city": ', '"Paris"}'),
        *call(1, "call_b", "get_weather", '{"city": "Os', 'lo", "units": ["c"]}'),
    ]
    msg = both([deltas[:2], deltas[2:]], "tool_calls")
    assert msg.stop_reason == "tool_use"
    tools = [(b.id, b.name, b.input) for b in msg.content if b.type == "tool_use"]
    assert tools == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_weather", {"city": "Oslo", "units": ["c"]}),
    ]
    assert [b.type for b in msg.content] == ["text", "tool_use", "tool_use"]


def test_forced_tool_call_reported_as_stop_is_tool_use() -> None:
    msg = both([call(0, "call_a", "ping", "{}")], "stop")
    assert msg.stop_reason == "tool_use"
    _, r = render([call(0, "", "ping")], "tool_calls", stream=False)
    block = Message.model_validate(r.message()).content[0]
    assert block.type == "tool_use" and block.id.startswith("toolu_") and block.input == {}


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("length", "max_tokens"), ("content_filter", "refusal"), ("tool_calls", "end_turn")],
)
def test_finish_reasons(finish: str, reason: str) -> None:
    assert both([[{"content": "x"}]], finish).stop_reason == reason


def test_stop_sequence_reported_by_the_backend() -> None:
    # vLLM: the stop string is cut from the text and named in the choice's stop_reason.
    msg = both([[{"content": "one two"}]], "stop", stops=["three", "END"], reported="END")
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "END")
    other = both([[{"content": "x"}]], "stop", stops=["END"], reported="<|im_end|>")
    assert (other.stop_reason, other.stop_sequence) == ("end_turn", None)


def test_stop_sequence_recovered_from_the_text() -> None:
    # A backend that lets the sequence through (or is not asked to stop on it) names
    # nothing: the text shows it; it is cut there and later output is dropped.
    batches = [[{"content": "one tw"}], [{"content": "o ##"}], [{"content": "# three"}]]
    msg = both(batches, "stop", stops=["###", "two"])
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "two")
    assert [b.text for b in msg.content if b.type == "text"] == ["one "]
    late = both([[{"content": "ab END"}], call(0, "c", "f", "{}")], "tool_calls", stops=["END"])
    assert (late.stop_sequence, [b.type for b in late.content]) == ("END", ["text"])


def test_llama_cpp_stop_without_trace_is_end_turn() -> None:
    # llama.cpp cuts the sequence and says only "stop": there is nothing to recover.
    msg = both([[{"content": "one two"}]], "stop", stops=["three"])
    assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)


def test_held_back_text_is_released_when_the_text_ends() -> None:
    deltas = [{"content": "a #"}, *call(0, "c", "f", "{}"), {"content": "#"}]
    msg = both([deltas], "length", stops=["###"])
    assert [(b.type, getattr(b, "text", None)) for b in msg.content] == [
        ("text", "a #"),
        ("tool_use", None),
        ("text", "#"),
    ]


def test_other_choices_and_empty_output() -> None:
    msg = both([[{"index": 1, "content": "other"}, {"content": ""}]], "stop")
    assert msg.content == []


def test_error_ends_the_stream_and_nothing_follows() -> None:
    r = AnthropicRenderer("qwen", stream=True)
    out = r.feed([{"content": "x"}]) + r.error_event(provider_failed())
    assert [n for n, _ in parse_sse(out)][-1] == "error"
    assert r.closed and r.feed([{"content": "y"}]) == b""
    assert r.finish("stop", prompt_tokens=1, completion_tokens=1) == b""
    with pytest.raises(RuntimeError):
        r.message()


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_pieces = st.lists(_text, max_size=4)
_args = st.dictionaries(st.sampled_from("abc"), st.integers() | _text, max_size=3)


@settings(max_examples=60, deadline=None)
@given(
    thinking=_pieces,
    text=_pieces,
    tools=st.lists(_args, max_size=3),
    cut=st.integers(1, 9),
    stops=st.lists(st.sampled_from(["##", "ab", "\n\n"]), max_size=2),
)
def test_any_delta_sequence_streams_to_the_same_message(
    thinking: list[str], text: list[str], tools: list[dict[str, Any]], cut: int, stops: list[str]
) -> None:
    deltas: list[dict[str, Any]] = [{"reasoning_content": t} for t in thinking]
    deltas += [{"content": t} for t in text]
    for i, args in enumerate(tools):
        raw = json.dumps(args)
        deltas += call(i, f"call_{i}", f"tool_{i}", raw[:cut], raw[cut:])
    batches = [deltas[i : i + 3] for i in range(0, len(deltas), 3)]
    msg = both(batches, "tool_calls" if tools else "stop", stops=stops)
    if msg.stop_sequence is None:
        assert "".join(b.text for b in msg.content if b.type == "text") == "".join(text)
        assert [b.input for b in msg.content if b.type == "tool_use"] == tools
