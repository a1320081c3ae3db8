"""Helpers shared by the OpenAI and Anthropic consumer layers (pure, no I/O).

- request-side validators that flatten text content parts and normalize stop sequences,
  written as pydantic `BeforeValidator`s so that errors carry the field's own location;
- `delta_texts`, which pulls choice 0's content strings out of a provider `chunk` frame's
  deltas, and `count_tokens`, which counts the tokens they relay (what is billed as relayed);
- `StopMatcher`, coordinator-side stop-sequence enforcement for a token stream: a provider
  is asked to stop on the sequences too, but the wire's `complete` frame cannot say *which*
  sequence ended the output (Anthropic reports it), and not every backend honours `stop`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic_core import PydanticCustomError

from .limits import MAX_TOKENS_LIMIT

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]

#: Bounds of a consumer request (`chat_request.ChatRequestBody` and the others).
MAX_MESSAGES = 10_000
MAX_STOP_SEQUENCES = 32
MAX_STOP_LENGTH = 1024
MAX_OUTPUT_TOKENS = MAX_TOKENS_LIMIT
SEED_MIN = -(2**63)
SEED_MAX = 2**63 - 1
#: Text parts of one message (OpenAI content parts, Anthropic text blocks) are joined with this.
PART_SEPARATOR = "\n"


class TokenUsage(Protocol):
    """Anything carrying token counts, e.g. `frames.Usage` from a `complete` frame."""

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...


def flatten_text_parts(value: Any) -> Any:
    """BeforeValidator: a list of `{"type": "text", "text": str}` parts becomes one string.

    Strings and None pass through untouched (the field's own type then checks them); any
    other part type (images, tool results, ...) is rejected with a clean message.
    """
    if not isinstance(value, list):
        return value
    texts: list[str] = []
    for index, part in enumerate(value):
        if not isinstance(part, dict):
            raise PydanticCustomError(
                "content_part", "content part {index} must be an object", {"index": index}
            )
        if part.get("type") != "text":
            raise PydanticCustomError(
                "content_part",
                "content part {index}: only parts of type 'text' are supported",
                {"index": index},
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise PydanticCustomError(
                "content_part", "content part {index}: 'text' must be a string", {"index": index}
            )
        texts.append(text)
    return PART_SEPARATOR.join(texts)


def normalize_stop(value: Any) -> Any:
    """BeforeValidator: `"x"` becomes `["x"]`; empty strings are dropped; `[]` becomes None."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value
    if len(value) > MAX_STOP_SEQUENCES:
        raise PydanticCustomError(
            "too_many_stop_sequences",
            "at most {limit} stop sequences are supported",
            {"limit": MAX_STOP_SEQUENCES},
        )
    kept = []
    for item in value:
        if not isinstance(item, str):
            raise PydanticCustomError("stop_type", "stop sequences must be strings")
        if len(item) > MAX_STOP_LENGTH:
            raise PydanticCustomError(
                "stop_too_long",
                "stop sequences must be at most {limit} characters",
                {"limit": MAX_STOP_LENGTH},
            )
        if item:
            kept.append(item)
    return kept or None


def delta_texts(deltas: Iterable[Mapping[str, Any]]) -> list[str]:
    """The non-empty content strings of choice 0 in a chunk's deltas (text-only renderings).

    Role deltas, other choices and other fields are skipped.
    """
    out: list[str] = []
    for delta in deltas:
        text = delta.get("content")
        if text and type(text) is str and not delta.get("index"):
            out.append(text)
    return out


def count_tokens(deltas: Iterable[Mapping[str, Any]]) -> int:
    """How many tokens a chunk's deltas relay (what the coordinator bills as relayed).

    Each delta carrying a non-empty `content`, `reasoning_content`, `refusal` or tool-call
    `arguments` counts 1, whatever its choice: reasoning and tool-call arguments are output
    tokens too. The coordinator's own count, which bills a stream without a usage report
    and bounds one with a report. A role delta, a finish delta, or `{"content": ""}` shows
    the consumer nothing, so it is not a token.
    """
    count = 0
    for delta in deltas:
        if delta.get("content") or delta.get("reasoning_content") or delta.get("refusal"):
            count += 1
        else:
            calls = delta.get("tool_calls")
            if calls and any((c.get("function") or {}).get("arguments") for c in calls):
                count += 1
    return count


class StopMatcher:
    """Cuts a streamed text at the first stop sequence to appear in it.

    "First" means first *completed*, as a generator checking after every character would
    see it: among the sequences present, the one ending earliest wins, then the one starting
    earliest, then the first in the given order. The result does not depend on how the text
    is split into pieces. Feed it each piece; it returns the part safe to send now. Text
    that could still begin a stop sequence is held back (at most the longest sequence's
    length minus one characters) until a later piece decides it. After a match, `matched`
    names the sequence, the text from its start on is dropped, and later feeds return "".
    Call `flush()` at the end of the stream to release held-back text.
    """

    __slots__ = ("_held", "_stops", "matched")

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(dict.fromkeys(s for s in stops if s))
        self._held = ""
        self.matched: str | None = None

    @property
    def active(self) -> bool:
        """True while there are stop sequences and none has matched yet."""
        return bool(self._stops) and self.matched is None

    def feed(self, text: str) -> str:
        """Add generated text; return what can be emitted now."""
        if self.matched is not None:
            return ""
        if not self._stops:
            return text
        buf = self._held + text
        best: tuple[int, int] | None = None
        for stop in self._stops:
            pos = buf.find(stop)
            if pos != -1 and (best is None or (pos + len(stop), pos) < best):
                best, self.matched = (pos + len(stop), pos), stop
        if best is not None:
            self._held = ""
            return buf[: best[1]]
        hold = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(buf)), hold, -1):
                if buf.endswith(stop[:k]):
                    hold = k
                    break
        if hold:
            self._held = buf[-hold:]
            return buf[:-hold]
        self._held = ""
        return buf

    def feed_all(self, texts: Iterable[str]) -> list[str]:
        """Feed several pieces; return the non-empty emitted parts (stops early on a match)."""
        out: list[str] = []
        for text in texts:
            emitted = self.feed(text)
            if emitted:
                out.append(emitted)
            if self.matched is not None:
                break
        return out

    def flush(self) -> str:
        """End of stream: return the held-back text (empty after a match)."""
        held, self._held = self._held, ""
        return held
