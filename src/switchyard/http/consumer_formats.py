"""Per-API renderings of a relayed stream: OpenAI chat, OpenAI completions, Anthropic.

Each `Rendering` turns batches of output deltas, the end of a stream and errors into the
bytes of its API's SSE stream, and builds its non-streaming response body from the
folded choices. OpenAI chat renders every delta (tool calls, reasoning, logprobs, n > 1);
the text-only APIs render choice 0's content. The encoders themselves live in
`protocol/` (pure); this module only adapts them to one interface.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..inference.output import Final
from ..protocol.anthropic_format import MessagesStreamEncoder, build_message, new_message_id
from ..protocol.chat import delta_texts
from ..protocol.chat_choices import Choices
from ..protocol.errors import ApiError
from ..protocol.openai_format import (
    ChatStreamEncoder,
    CompletionStreamEncoder,
    build_chat_completion,
    build_completion,
)


class Rendering(Protocol):
    """One API's stream and body formats."""

    def deltas(self, deltas: list[dict[str, Any]]) -> bytes: ...

    def finish(self, final: Final) -> bytes: ...

    def error(self, err: ApiError) -> bytes: ...

    def body(self, choices: Choices, final: Final) -> dict[str, Any]: ...


class OpenAIChat:
    """`/v1/chat/completions`: every delta, a finish chunk per choice, optional usage."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.encoder = ChatStreamEncoder(model)

    def deltas(self, deltas: list[dict[str, Any]]) -> bytes:
        return self.encoder.delta_events(deltas)

    def finish(self, final: Final) -> bytes:
        return self.encoder.end(final.finish_reasons, final.usage, include_usage=self.include_usage)

    def error(self, err: ApiError) -> bytes:
        return self.encoder.error_event(err) + self.encoder.done()

    def body(self, choices: Choices, final: Final) -> dict[str, Any]:
        e = self.encoder
        return build_chat_completion(
            id=e.id, created=e.created, model=e.model, choices=choices,
            finish_reasons=final.finish_reasons, usage=final.usage,
        )  # fmt: skip


class OpenAICompletion:
    """`/v1/completions`: choice 0's text."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.encoder = CompletionStreamEncoder(model)

    def deltas(self, deltas: list[dict[str, Any]]) -> bytes:
        return self.encoder.text_events(delta_texts(deltas))

    def finish(self, final: Final) -> bytes:
        return self.encoder.end(
            final.finish_reasons[:1], final.usage, include_usage=self.include_usage
        )

    def error(self, err: ApiError) -> bytes:
        return self.encoder.error_event(err) + self.encoder.done()

    def body(self, choices: Choices, final: Final) -> dict[str, Any]:
        e = self.encoder
        return build_completion(
            id=e.id, created=e.created, model=e.model, text=choices.choices[0].text,
            finish_reason=final.finish_reason, usage=final.usage,
        )  # fmt: skip


class AnthropicMessages:
    """`/v1/messages`: message_start … content_block_delta … message_stop (choice 0's text)."""

    def __init__(self, model: str, input_tokens: int) -> None:
        self.model = model
        self.encoder = MessagesStreamEncoder(model, id=new_message_id(), input_tokens=input_tokens)

    def deltas(self, deltas: list[dict[str, Any]]) -> bytes:
        return self.encoder.text_events(delta_texts(deltas))

    def finish(self, final: Final) -> bytes:
        return self.encoder.finish_events(
            final.finish_reason, final.usage, stop_sequence=final.stop_sequence
        )

    def error(self, err: ApiError) -> bytes:
        return self.encoder.error_event(err)

    def body(self, choices: Choices, final: Final) -> dict[str, Any]:
        return build_message(
            id=self.encoder.id, model=self.model, text=choices.choices[0].text,
            finish_reason=final.finish_reason, usage=final.usage,
            stop_sequence=final.stop_sequence,
        )  # fmt: skip
