"""OpenAI response bodies and SSE stream encoders (pure, no I/O).

Non-streaming: `build_chat_completion` (`chat.completion`, from the `Choices` folded out of
the deltas) and `build_completion` (`text_completion`) return plain dicts for the route to
serialize.

Streaming: one encoder per request. Every event prefix and suffix is rendered once when the
encoder is made, so the per-token path is one C-level string quote plus a join; several
tokens come back as one `bytes` for one write. A chat stream is

    role chunk (delta {"role": "assistant", "content": ""}), sent with the first text
    content chunks (delta {"content": ...}), or any other delta a provider relayed
      (reasoning_content, tool_calls, refusal; logprobs beside the delta; `index` for
      n > 1, whose choices get their own role chunk)
    finish chunk per choice (delta {}, finish_reason)
    usage chunk (choices [], usage) -- only with stream_options.include_usage
    data: [DONE]

and a failure after the first token is an `data: {"error": {...}}` event followed by
`[DONE]`. After `done()` an encoder emits nothing more, so a stream has exactly one
`[DONE]`.
"""

from __future__ import annotations

import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from .chat import TokenUsage
from .chat_choices import Choices
from .errors import ApiError

_DONE = b"data: [DONE]\n\n"
_COMPLETION_FINISH = {"stop", "length", "content_filter"}


def new_chat_completion_id() -> str:
    """A fresh `chatcmpl-...` id."""
    return "chatcmpl-" + secrets.token_hex(12)


def new_completion_id() -> str:
    """A fresh `cmpl-...` id."""
    return "cmpl-" + secrets.token_hex(12)


def usage_dict(usage: TokenUsage) -> dict[str, Any]:
    """OpenAI `usage`: prompt, completion and total tokens, and the details reported."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }
    reasoning = getattr(usage, "reasoning_tokens", None)
    if reasoning is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    cached = getattr(usage, "cached_tokens", None)
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def completion_finish_reason(reason: str) -> str:
    """Legacy completions know only stop, length and content_filter."""
    return reason if reason in _COMPLETION_FINISH else "stop"


def build_chat_completion(
    *,
    id: str,
    created: int,
    model: str,
    choices: Choices,
    finish_reasons: Sequence[str],
    usage: TokenUsage,
) -> dict[str, Any]:
    """A non-streaming `chat.completion` object: choice i ends with `finish_reasons[i]`."""
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": index,
                "message": choice.message(),
                "logprobs": choice.logprobs,
                "finish_reason": finish_reasons[index],
            }
            for index, choice in enumerate(choices.choices)
        ],
        "usage": usage_dict(usage),
    }


def build_completion(
    *,
    id: str,
    created: int,
    model: str,
    choices: Choices,
    finish_reasons: Sequence[str],
    usage: TokenUsage,
) -> dict[str, Any]:
    """A non-streaming `text_completion`: every choice's text, its legacy `logprobs`
    (the upstream's lists, concatenated) and finish reason."""
    return {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "text": choice.text,
                "index": index,
                "logprobs": choice.text_logprobs,
                "finish_reason": completion_finish_reason(finish_reasons[index]),
            }
            for index, choice in enumerate(choices.choices)
        ],
        "usage": usage_dict(usage),
    }


def _error_event(err: ApiError) -> bytes:
    return b"data: " + json.dumps(err.openai_body()).encode() + b"\n\n"


class _StreamEncoder(ABC):
    """State shared by both OpenAI encoders: identity, the usage event and `[DONE]`."""

    __slots__ = ("_closed", "_envelope", "created", "id", "model")

    def __init__(self, model: str, object_type: str, id: str, created: int | None) -> None:
        self.id = id
        self.model = model
        self.created = int(time.time()) if created is None else created
        self._envelope = (
            f'data: {{"id":{_quote(id)},"object":"{object_type}",'
            f'"created":{self.created},"model":{_quote(model)},'
        )
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once `done()` has been emitted."""
        return self._closed

    def usage_event(self, usage: TokenUsage) -> bytes:
        """The include_usage chunk: empty `choices` and the request's usage."""
        if self._closed:
            return b""
        body = json.dumps(usage_dict(usage), separators=(",", ":"))
        return f'{self._envelope}"choices":[],"usage":{body}}}\n\n'.encode()

    def error_event(self, err: ApiError) -> bytes:
        """An in-stream error (after the first token); follow it with `done()`."""
        return b"" if self._closed else _error_event(err)

    @abstractmethod
    def finish_event(self, finish_reason: str, index: int = 0) -> bytes:
        """The last chunk of choice `index`, carrying its finish reason."""

    def end(
        self, finish_reasons: Sequence[str], usage: TokenUsage, *, include_usage: bool
    ) -> bytes:
        """A finish chunk per choice, the usage chunk if asked for, then `[DONE]`, as one
        write."""
        out = b"".join(self.finish_event(r, i) for i, r in enumerate(finish_reasons))
        if include_usage:
            out += self.usage_event(usage)
        return out + self.done()

    def done(self) -> bytes:
        """`data: [DONE]`, exactly once; the encoder emits nothing afterwards."""
        if self._closed:
            return b""
        self._closed = True
        return _DONE


class ChatStreamEncoder(_StreamEncoder):
    """Encodes one `chat.completion.chunk` stream."""

    __slots__ = ("_choice_head", "_content_head", "_content_tail", "_role", "_roles")

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        super().__init__(model, "chat.completion.chunk", id or new_chat_completion_id(), created)
        choice = '"choices":[{"index":0,"delta":{'
        self._choice_head = f'{self._envelope}"choices":['
        self._content_head = f'{self._envelope}{choice}"content":'
        self._content_tail = '},"logprobs":null,"finish_reason":null}]}\n\n'
        self._role = (
            f'{self._envelope}{choice}"role":"assistant","content":""}},'
            '"logprobs":null,"finish_reason":null}]}\n\n'
        )
        self._roles: set[int] = set()  # choices whose role chunk went out

    def role_event(self, index: int = 0) -> bytes:
        """The opening chunk of choice `index`, announcing the assistant role (once)."""
        if index in self._roles or self._closed:
            return b""
        self._roles.add(index)
        if index == 0:
            return self._role.encode()
        delta = {"role": "assistant", "content": ""}
        return self._choice(
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
        )

    def text_events(self, texts: Iterable[str]) -> bytes:
        """One content chunk of choice 0 per non-empty text (role chunk first if unsent)."""
        return self.delta_events([{"content": text} for text in texts])

    def delta_events(self, deltas: Iterable[Mapping[str, Any]]) -> bytes:
        """One chunk per delta that shows something, in order; role deltas are skipped
        (each choice's role chunk is sent before its first output)."""
        if self._closed:
            return b""
        head, tail = self._content_head, self._content_tail
        parts: list[str] = []
        for delta in deltas:
            if len(delta) == 1:
                text = delta.get("content")
                if type(text) is str:  # the per-token case, from templates
                    if text:
                        if 0 not in self._roles:
                            self._roles.add(0)
                            parts.append(self._role)
                        parts += (head, _quote(text), tail)
                    continue
            event = self._delta_event(delta)
            if event:
                parts.append(event)
        return "".join(parts).encode()

    def _delta_event(self, delta: Mapping[str, Any]) -> str:
        index = delta.get("index", 0)
        shown = {k: v for k, v in delta.items() if k not in _NOT_IN_DELTA}
        logprobs = delta.get("logprobs")
        if not shown and logprobs is None:
            return ""
        opening = ""
        if index not in self._roles:
            opening = self.role_event(index).decode()
        choice = {"index": index, "delta": shown, "logprobs": logprobs, "finish_reason": None}
        return opening + self._choice(choice).decode()

    def _choice(self, choice: dict[str, Any]) -> bytes:
        body = json.dumps(choice, separators=(",", ":"))
        return f"{self._choice_head}{body}]}}\n\n".encode()

    def finish_event(self, finish_reason: str, index: int = 0) -> bytes:
        """The final chunk of choice `index`: an empty delta and the finish reason."""
        if self._closed:
            return b""
        opening = self.role_event(index)
        choice = {"index": index, "delta": {}, "logprobs": None, "finish_reason": finish_reason}
        return opening + self._choice(choice)


#: Delta keys that are not part of a chunk's `delta` object (or are sent on their own).
_NOT_IN_DELTA = frozenset({"index", "logprobs", "finish_reason", "role"})


class CompletionStreamEncoder(_StreamEncoder):
    """Encodes one streamed `text_completion`: a chunk per delta with text or logprobs
    (its choice's `index`, its `logprobs` as the upstream sent them), then a finish chunk
    per choice."""

    __slots__ = ("_head", "_text_head", "_text_tail")

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        super().__init__(model, "text_completion", id or new_completion_id(), created)
        self._head = f'{self._envelope}"choices":['
        self._text_head = f'{self._head}{{"text":'
        self._text_tail = ',"index":0,"logprobs":null,"finish_reason":null}]}\n\n'

    def text_events(self, texts: Iterable[str]) -> bytes:
        """One chunk per non-empty text of choice 0, concatenated."""
        if self._closed:
            return b""
        head, tail = self._text_head, self._text_tail
        parts: list[str] = []
        for text in texts:
            if text:
                parts += (head, _quote(text), tail)
        return "".join(parts).encode()

    def delta_events(self, deltas: Iterable[Mapping[str, Any]]) -> bytes:
        """One chunk per delta that shows text or logprobs, of any choice."""
        if self._closed:
            return b""
        parts: list[str] = []
        for delta in deltas:
            text = delta.get("content") or ""
            logprobs = delta.get("text_logprobs")
            if len(delta) == 1 and text:
                parts += (self._text_head, _quote(text), self._text_tail)
            elif text or logprobs:
                choice = {
                    "text": text, "index": delta.get("index", 0), "logprobs": logprobs,
                    "finish_reason": None,
                }  # fmt: skip
                parts += (self._head, json.dumps(choice, separators=(",", ":")), "]}\n\n")
        return "".join(parts).encode()

    def finish_event(self, finish_reason: str, index: int = 0) -> bytes:
        """The last chunk of choice `index`: empty text and the finish reason."""
        if self._closed:
            return b""
        reason = _quote(completion_finish_reason(finish_reason))
        return (
            f'{self._text_head}"","index":{int(index)},"logprobs":null,'
            f'"finish_reason":{reason}}}]}}\n\n'
        ).encode()
