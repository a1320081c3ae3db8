"""Whole chat choices assembled from streamed deltas (pure, no I/O).

A non-streamed chat answer is built from the same deltas a stream relays: `Choices`
folds them, per choice `index`, the way the OpenAI SDK's stream accumulator does —
content, `reasoning_content` and refusal pieces concatenated, tool calls merged by their
`index` (the id, type and name from the first piece, the argument pieces concatenated),
logprob entries (and a text completion's legacy `text_logprobs` lists) appended — and
`message` renders one choice as a `chat.completion` message. Role and finish deltas
carry nothing to fold (the caller tracks finish reasons).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class _ToolCall:
    id: str = ""
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Choice:
    """One choice so far."""

    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    logprobs: dict[str, list[Any]] | None = None
    text_logprobs: dict[str, list[Any]] | None = None  # a text completion's (legacy shape)

    def add(self, delta: Mapping[str, Any]) -> None:
        """Fold one delta into the choice."""
        text = delta.get("content")
        if text:
            self.content.append(text)
        text = delta.get("reasoning_content")
        if text:
            self.reasoning.append(text)
        text = delta.get("refusal")
        if text:
            self.refusal.append(text)
        for call in delta.get("tool_calls") or ():
            self._add_call(call)
        logprobs = delta.get("logprobs")
        if logprobs:
            merged = self.logprobs if self.logprobs is not None else {}
            for key in ("content", "refusal"):
                entries = logprobs.get(key)
                if entries:
                    merged.setdefault(key, []).extend(entries)
            self.logprobs = merged
        text_logprobs = delta.get("text_logprobs")
        if text_logprobs:
            folded = self.text_logprobs if self.text_logprobs is not None else {}
            for key, entries in text_logprobs.items():
                if isinstance(entries, list):
                    folded.setdefault(key, []).extend(entries)
            self.text_logprobs = folded

    def _add_call(self, call: Mapping[str, Any]) -> None:
        index = call.get("index", 0)
        state = self.tool_calls.get(index)
        if state is None:
            state = self.tool_calls[index] = _ToolCall()
        state.id = call.get("id") or state.id
        state.type = call.get("type") or state.type
        function = call.get("function") or {}
        state.name += function.get("name") or ""
        if function.get("arguments"):
            state.arguments.append(function["arguments"])

    def message(self) -> dict[str, Any]:
        """The `chat.completion` message of this choice."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.content) if self.content or not self.tool_calls else None,
            "refusal": "".join(self.refusal) if self.refusal else None,
        }
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": call.type,
                    "function": {"name": call.name, "arguments": "".join(call.arguments)},
                }
                for _, call in sorted(self.tool_calls.items())
            ]
        return message

    @property
    def text(self) -> str:
        """The content so far (what a text-only API shows)."""
        return "".join(self.content)


class Choices:
    """The choices of one answer, `n` of them, folded from deltas."""

    def __init__(self, n: int = 1) -> None:
        self.choices = [Choice() for _ in range(n)]

    def end(self) -> None:
        """The stream ended: nothing to check (a choice is whole however long it is)."""

    def add(self, deltas: Iterable[Mapping[str, Any]]) -> None:
        """Fold deltas of any choices (a delta of an index out of range is dropped)."""
        choices = self.choices
        for delta in deltas:
            index = delta.get("index", 0)
            if 0 <= index < len(choices):
                choices[index].add(delta)
