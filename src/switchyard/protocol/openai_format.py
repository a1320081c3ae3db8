"""OpenAI response bodies and SSE stream encoders (pure, no I/O).

Non-streaming: `build_chat_completion` (`chat.completion`) and `build_completion`
(`text_completion`) return plain dicts for the route to serialize.

Streaming: one encoder per request. Every event prefix and suffix is rendered once when the
encoder is made, so the per-token path is one C-level string quote plus a join; several
tokens come back as one `bytes` for one write. A chat stream is

    role chunk (delta {"role": "assistant", "content": ""}), sent with the first text
    content chunks (delta {"content": ...})
    finish chunk (delta {}, finish_reason)
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
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from .chat import TokenUsage
from .errors import ApiError

_DONE = b"data: [DONE]\n\n"
_COMPLETION_FINISH = {"stop", "length", "content_filter"}


def new_chat_completion_id() -> str:
    """A fresh `chatcmpl-...` id."""
    return "chatcmpl-" + secrets.token_hex(12)


def new_completion_id() -> str:
    """A fresh `cmpl-...` id."""
    return "cmpl-" + secrets.token_hex(12)


def usage_dict(usage: TokenUsage) -> dict[str, int]:
    """OpenAI `usage`: prompt, completion and total tokens."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def completion_finish_reason(reason: str) -> str:
    """Legacy completions know only stop, length and content_filter."""
    return reason if reason in _COMPLETION_FINISH else "stop"


def build_chat_completion(
    *, id: str, created: int, model: str, content: str, finish_reason: str, usage: TokenUsage
) -> dict[str, Any]:
    """A non-streaming `chat.completion` object."""
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_dict(usage),
    }


def build_completion(
    *, id: str, created: int, model: str, text: str, finish_reason: str, usage: TokenUsage
) -> dict[str, Any]:
    """A non-streaming `text_completion` object."""
    return {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "text": text,
                "index": 0,
                "logprobs": None,
                "finish_reason": completion_finish_reason(finish_reason),
            }
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
    def finish_event(self, finish_reason: str) -> bytes:
        """The last choice chunk, carrying the finish reason."""

    def end(self, finish_reason: str, usage: TokenUsage, *, include_usage: bool) -> bytes:
        """finish chunk, the usage chunk if asked for, then `[DONE]`, as one write."""
        out = self.finish_event(finish_reason)
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

    __slots__ = ("_content_head", "_content_tail", "_role", "_role_sent")

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        super().__init__(model, "chat.completion.chunk", id or new_chat_completion_id(), created)
        choice = '"choices":[{"index":0,"delta":{'
        self._content_head = f'{self._envelope}{choice}"content":'
        self._content_tail = '},"logprobs":null,"finish_reason":null}]}\n\n'
        self._role = (
            f'{self._envelope}{choice}"role":"assistant","content":""}},'
            '"logprobs":null,"finish_reason":null}]}\n\n'
        )
        self._role_sent = False

    def role_event(self) -> bytes:
        """The opening chunk announcing the assistant role (sent at most once)."""
        if self._role_sent or self._closed:
            return b""
        self._role_sent = True
        return self._role.encode()

    def text_events(self, texts: Iterable[str]) -> bytes:
        """One content chunk per non-empty text, concatenated (role chunk first if unsent)."""
        if self._closed:
            return b""
        head, tail = self._content_head, self._content_tail
        parts: list[str] = []
        for text in texts:
            if text:
                parts += (head, _quote(text), tail)
        if not parts:
            return b""
        if not self._role_sent:
            self._role_sent = True
            parts.insert(0, self._role)
        return "".join(parts).encode()

    def finish_event(self, finish_reason: str) -> bytes:
        """The final choice chunk with an empty delta and the finish reason."""
        if self._closed:
            return b""
        opening = self.role_event()
        event = (
            f'{self._envelope}"choices":[{{"index":0,"delta":{{}},"logprobs":null,'
            f'"finish_reason":{_quote(finish_reason)}}}]}}\n\n'
        )
        return opening + event.encode()


class CompletionStreamEncoder(_StreamEncoder):
    """Encodes one streamed `text_completion`."""

    __slots__ = ("_text_head", "_text_tail")

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        super().__init__(model, "text_completion", id or new_completion_id(), created)
        self._text_head = f'{self._envelope}"choices":[{{"text":'
        self._text_tail = ',"index":0,"logprobs":null,"finish_reason":null}]}\n\n'

    def text_events(self, texts: Iterable[str]) -> bytes:
        """One chunk per non-empty text, concatenated."""
        if self._closed:
            return b""
        head, tail = self._text_head, self._text_tail
        parts: list[str] = []
        for text in texts:
            if text:
                parts += (head, _quote(text), tail)
        return "".join(parts).encode()

    def finish_event(self, finish_reason: str) -> bytes:
        """The final chunk: empty text and the finish reason."""
        if self._closed:
            return b""
        reason = _quote(completion_finish_reason(finish_reason))
        return (
            f'{self._text_head}"","index":0,"logprobs":null,"finish_reason":{reason}}}]}}\n\n'
        ).encode()
