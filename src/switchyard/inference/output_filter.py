"""OutputFilter: a provider's deltas → what the consumer is shown, choice by choice.

The provider relays the fields of OpenAI chunk choices (`protocol.provider_frames.Delta`);
the filter, per request:

- enforces stop sequences on each choice's content (`StopMatcher`, so they work whatever
  the backend does): text that may start a sequence is held back, a match ends that
  choice (finish reason `stop`), and nothing of it after the match is shown;
- takes per-choice finish deltas out of the stream (the renderings send each choice's
  finish chunk at the end) and remembers them;
- drops role deltas (the renderings open each choice themselves) and deltas of a choice
  the request did not ask for.

The per-token shape `{"content": str}` (choice 0, no stop sequences) passes through as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..protocol.chat import StopMatcher

#: Keys of a delta that are never shown in it (the finish reason is sent at the end).
_HIDDEN = frozenset({"finish_reason", "role"})


class OutputFilter:
    """See the module docstring; `feed` each chunk's deltas, `flush` at the end."""

    __slots__ = ("_matchers", "finish_reasons", "matched", "n")

    def __init__(self, stops: Iterable[str], n: int = 1) -> None:
        stops = tuple(stops)
        self.n = n
        self._matchers = [StopMatcher(stops) for _ in range(n)] if stops else None
        self.finish_reasons: dict[int, str] = {}  # from the provider's finish deltas
        self.matched: dict[int, str] = {}  # choice → the stop sequence that ended it

    @property
    def done(self) -> bool:
        """True once every choice ended on a stop sequence (nothing more will be shown)."""
        return len(self.matched) == self.n

    def feed(self, deltas: Iterable[dict[str, Any]], out: list[dict[str, Any]]) -> None:
        """Append to `out` what the consumer is shown of `deltas`."""
        matchers = self._matchers
        for delta in deltas:
            if len(delta) == 1:
                text = delta.get("content")
                if type(text) is str:  # choice 0's next token
                    if matchers is None:
                        if text:
                            out.append(delta)
                    elif 0 not in self.matched:
                        self._content(0, text, {}, out)
                    continue
                if "role" in delta:
                    continue
            self._general(delta, out)

    def _general(self, delta: dict[str, Any], out: list[dict[str, Any]]) -> None:
        index = delta.get("index", 0)
        if index >= self.n or index in self.matched:
            return
        reason = delta.get("finish_reason")
        if reason is not None:
            self.finish_reasons.setdefault(index, reason)
        shown = {k: v for k, v in delta.items() if k not in _HIDDEN}
        text = shown.get("content")
        if self._matchers is not None and isinstance(text, str):
            del shown["content"]
            self._content(index, text, shown, out)
        elif len(shown) > ("index" in shown):
            out.append(shown)

    def _content(
        self, index: int, text: str, rest: dict[str, Any], out: list[dict[str, Any]]
    ) -> None:
        """Run choice `index`'s content through its stop matcher; `rest` goes along."""
        assert self._matchers is not None
        matcher = self._matchers[index]
        emitted = matcher.feed(text)
        shown = dict(rest)
        if emitted:
            shown["content"] = emitted
        if matcher.matched is not None:
            self.matched[index] = matcher.matched
        if len(shown) > ("index" in shown):
            if index and "index" not in shown:
                shown["index"] = index
            out.append(shown)

    def flush(self, out: list[dict[str, Any]]) -> None:
        """End of the stream: release the text held back for a possible stop sequence."""
        for index, matcher in enumerate(self._matchers or ()):
            held = matcher.flush()
            if held:
                out.append({"index": index, "content": held} if index else {"content": held})

    def finish_reasons_for(self, n: int, default: str) -> tuple[str, ...]:
        """Each choice's finish reason: `stop` on a matched sequence, else the provider's
        finish delta, else `default` (the provider's `complete`)."""
        reasons = []
        for index in range(n):
            if index in self.matched:
                reasons.append("stop")
            elif index == 0:
                reasons.append(default)
            else:
                reasons.append(self.finish_reasons.get(index, default))
        return tuple(reasons)
