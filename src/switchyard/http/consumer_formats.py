"""Per-API renderings of a relayed stream: OpenAI chat, OpenAI completions, Anthropic.

Each `Rendering` turns text pieces, the end of a stream and errors into the bytes of its
API's SSE stream, and builds its non-streaming response body. The encoders themselves
live in `protocol/` (pure); this module only adapts them to one interface.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..inference.output import Usage
from ..protocol.anthropic_format import MessagesStreamEncoder, build_message, new_message_id
from ..protocol.errors import ApiError
from ..protocol.openai_format import (
    ChatStreamEncoder,
    CompletionStreamEncoder,
    build_chat_completion,
    build_completion,
)


class Rendering(Protocol):
    """One API's stream and body formats."""

    def texts(self, texts: list[str]) -> bytes: ...

    def finish(self, finish_reason: str, usage: Usage, stop_sequence: str | None) -> bytes: ...

    def error(self, err: ApiError) -> bytes: ...

    def body(
        self, text: str, finish_reason: str, usage: Usage, stop_sequence: str | None
    ) -> dict[str, Any]: ...


class _OpenAIRendering:
    """Shared by both OpenAI routes: chunks, an optional usage chunk, `data: [DONE]`."""

    encoder: ChatStreamEncoder | CompletionStreamEncoder

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def texts(self, texts: list[str]) -> bytes:
        return self.encoder.text_events(texts)

    def finish(self, finish_reason: str, usage: Usage, stop_sequence: str | None) -> bytes:
        return self.encoder.end(finish_reason, usage, include_usage=self.include_usage)

    def error(self, err: ApiError) -> bytes:
        return self.encoder.error_event(err) + self.encoder.done()


class OpenAIChat(_OpenAIRendering):
    """`/v1/chat/completions`."""

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__(include_usage)
        self.encoder = ChatStreamEncoder(model)

    def body(
        self, text: str, finish_reason: str, usage: Usage, stop_sequence: str | None
    ) -> dict[str, Any]:
        e = self.encoder
        return build_chat_completion(
            id=e.id, created=e.created, model=e.model, content=text,
            finish_reason=finish_reason, usage=usage,
        )  # fmt: skip


class OpenAICompletion(_OpenAIRendering):
    """`/v1/completions`."""

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__(include_usage)
        self.encoder = CompletionStreamEncoder(model)

    def body(
        self, text: str, finish_reason: str, usage: Usage, stop_sequence: str | None
    ) -> dict[str, Any]:
        e = self.encoder
        return build_completion(
            id=e.id, created=e.created, model=e.model, text=text,
            finish_reason=finish_reason, usage=usage,
        )  # fmt: skip


class AnthropicMessages:
    """`/v1/messages`: message_start … content_block_delta … message_stop."""

    def __init__(self, model: str, input_tokens: int) -> None:
        self.model = model
        self.encoder = MessagesStreamEncoder(model, id=new_message_id(), input_tokens=input_tokens)

    def texts(self, texts: list[str]) -> bytes:
        return self.encoder.text_events(texts)

    def finish(self, finish_reason: str, usage: Usage, stop_sequence: str | None) -> bytes:
        return self.encoder.finish_events(finish_reason, usage, stop_sequence=stop_sequence)

    def error(self, err: ApiError) -> bytes:
        return self.encoder.error_event(err)

    def body(
        self, text: str, finish_reason: str, usage: Usage, stop_sequence: str | None
    ) -> dict[str, Any]:
        return build_message(
            id=self.encoder.id, model=self.model, text=text, finish_reason=finish_reason,
            usage=usage, stop_sequence=stop_sequence,
        )  # fmt: skip
