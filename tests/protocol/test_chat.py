"""Shared consumer helpers: text-part flattening, stop normalization, deltas, StopMatcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from switchyard.protocol.chat import (
    MAX_STOP_SEQUENCES,
    StopMatcher,
    count_tokens,
    delta_texts,
    flatten_text_parts,
    normalize_stop,
)


def test_flatten_text_parts() -> None:
    assert flatten_text_parts("plain") == "plain"
    assert flatten_text_parts(None) is None
    assert flatten_text_parts([]) == ""
    parts = [{"type": "text", "text": "a", "cache_control": {}}, {"type": "text", "text": "b"}]
    assert flatten_text_parts(parts) == "a\nb"
    for bad in ([{"type": "image_url"}], ["a"], [{"type": "text", "text": 1}]):
        with pytest.raises(PydanticCustomError):
            flatten_text_parts(bad)


def test_normalize_stop() -> None:
    assert normalize_stop("x") == ["x"]
    assert normalize_stop(["", "y"]) == ["y"]
    assert normalize_stop([""]) is None
    assert normalize_stop(None) is None
    assert normalize_stop(5) == 5  # left for the field's type check
    with pytest.raises(PydanticCustomError):
        normalize_stop(["s"] * (MAX_STOP_SEQUENCES + 1))


def test_delta_texts_are_choice_zeros_content() -> None:
    deltas = [
        {"role": "assistant"},
        {"content": ""},
        {"content": "a"},
        {"index": 0, "content": "b", "logprobs": {"content": []}},
        {"index": 1, "content": "other choice"},
        {"reasoning_content": "thinking"},
    ]
    assert delta_texts(deltas) == ["a", "b"]


def test_count_tokens_counts_every_kind_of_output() -> None:
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
    shown = [
        {"content": "a"},
        {"index": 1, "content": "b"},
        {"reasoning_content": "r"},
        {"refusal": "no"},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]},
        {"content": "c", "logprobs": {"content": []}},
    ]
    nothing = [
        {"role": "assistant"},
        {"content": ""},
        {"index": 1, "finish_reason": "stop"},
        {"tool_calls": [call]},  # the opening of a call: its name, no argument yet
        {"reasoning_content": ""},
    ]
    assert count_tokens(shown) == len(shown)
    assert count_tokens(nothing) == 0
    assert count_tokens([{"content": ""}] * 2000) == 0


def test_matcher_holds_back_partial_matches() -> None:
    m = StopMatcher(["</s>", "STOP"])
    assert m.feed("Hello <") == "Hello "
    assert m.feed("/") == ""
    assert m.feed("x") == "</x"
    assert m.feed(" ST") == " "
    assert m.feed("OPPED") == ""
    assert m.matched == "STOP" and not m.active
    assert m.feed("more") == "" and m.flush() == ""


def test_matcher_flushes_held_text_at_end() -> None:
    m = StopMatcher(["END"])
    assert m.feed("the EN") == "the "
    assert m.flush() == "EN" and m.matched is None


def test_matcher_without_stops_is_transparent() -> None:
    m = StopMatcher(["", ""])
    assert not m.active
    assert m.feed_all(["a", "b"]) == ["a", "b"]


def test_matcher_first_completed_wins_regardless_of_pieces() -> None:
    for pieces in (["xa", "bcd"], ["xabcd"], list("xabcd")):
        m = StopMatcher(["abc", "bc", "ab", "b"])
        assert (m.feed_all(pieces), m.matched) == (["x"], "ab")
    m = StopMatcher(["bcd", "abcd"])
    assert (m.feed_all(["xabcd"]), m.matched) == (["x"], "abcd")


def reference(text: str, stops: list[str]) -> tuple[str, str | None]:
    """Grow the text one character at a time and stop as soon as a sequence completes."""
    for end in range(1, len(text) + 1):
        done = [s for s in stops if text[:end].endswith(s)]
        if done:
            first = max(done, key=len)  # same end: the longer one started earlier
            return text[: end - len(first)], first
    return text, None


@given(
    pieces=st.lists(st.text(alphabet="abc", max_size=4), max_size=12),
    stops=st.lists(st.text(alphabet="abc", min_size=1, max_size=3), min_size=1, max_size=3),
)
def test_matcher_agrees_with_whole_text_search(pieces: list[str], stops: list[str]) -> None:
    m = StopMatcher(stops)
    emitted = "".join(m.feed_all(pieces)) + m.flush()
    assert (emitted, m.matched) == reference("".join(pieces), list(dict.fromkeys(stops)))
