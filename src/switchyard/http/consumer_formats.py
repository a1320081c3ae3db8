"""Per-API renderings of a relayed stream: OpenAI chat, completions, Responses, Anthropic.

Each `Rendering` turns batches of output deltas, the end of a stream and errors into the
bytes of its API's SSE stream, and builds its non-streaming response body from the
folded choices. OpenAI chat renders every delta (tool calls, reasoning, logprobs, n > 1);
Anthropic renders choice 0's reasoning, text and tool calls as content blocks, Responses
as output items; completions renders every choice's text with its legacy `logprobs`. The
encoders themselves live in
`protocol/` (pure); this module only adapts them to one interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..inference.output import Final
from ..protocol.anthropic_stream import AnthropicRenderer
from ..protocol.chat_choices import Choice, Choices
from ..protocol.errors import ApiError
from ..protocol.openai_format import (
    ChatStreamEncoder,
    CompletionStreamEncoder,
    build_chat_completion,
    build_completion,
)
from ..protocol.responses_stream import ResponsesRenderer, responses_usage


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
    """`/v1/completions`: every choice's text and legacy logprobs, by index."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.encoder = CompletionStreamEncoder(model)

    def deltas(self, deltas: list[dict[str, Any]]) -> bytes:
        return self.encoder.delta_events(deltas)

    def finish(self, final: Final) -> bytes:
        return self.encoder.end(final.finish_reasons, final.usage, include_usage=self.include_usage)

    def error(self, err: ApiError) -> bytes:
        return self.encoder.error_event(err) + self.encoder.done()

    def body(self, choices: Choices, final: Final) -> dict[str, Any]:
        e = self.encoder
        return build_completion(
            id=e.id, created=e.created, model=e.model, choices=choices,
            finish_reasons=final.finish_reasons, usage=final.usage,
        )  # fmt: skip


class AnthropicMessages:
    """`/v1/messages`: choice 0 as thinking, text and tool_use blocks (`AnthropicRenderer`).

    Stop sequences are cut by the request (`ConsumerRequest`'s filter), which reports the
    one it matched in `Final.stop_sequence`; the renderer only names it.
    """

    def __init__(
        self, model: str, stream: bool, stop_sequences: Sequence[str], input_tokens: int
    ) -> None:
        self.renderer = AnthropicRenderer(
            model, stream=stream, stop_sequences=stop_sequences, input_tokens=input_tokens,
            cut_stops=False,
        )  # fmt: skip

    def deltas(self, deltas: list[dict[str, Any]]) -> bytes:
        return self.renderer.feed(deltas)

    def finish(self, final: Final) -> bytes:
        usage = final.usage
        return self.renderer.finish(
            final.finish_reason, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, reasoning_tokens=usage.reasoning_tokens,
            cached_tokens=usage.cached_tokens, stop_sequence=final.stop_sequence,
        )  # fmt: skip

    def error(self, err: ApiError) -> bytes:
        return self.renderer.error_event(err)

    def body(self, choices: Choices, final: Final) -> dict[str, Any]:
        self.renderer.feed([folded_delta(choices.choices[0])])
        self.finish(final)
        return self.renderer.message()


class OpenAIResponses:
    """`/v1/responses`: choice 0 as reasoning, message and function_call output items
    (`ResponsesRenderer`); `response` is the final response object once it finished."""

    def __init__(self, model: str, echo: dict[str, Any], stream: bool) -> None:
        self.renderer = ResponsesRenderer(model, echo, stream=stream)

    def deltas(self, deltas: list[dict[str, Any]]) -> bytes:
        return self.renderer.feed(deltas)

    def finish(self, final: Final) -> bytes:
        u = final.usage
        usage = responses_usage(
            u.prompt_tokens, u.completion_tokens, reasoning_tokens=u.reasoning_tokens,
            cached_tokens=u.cached_tokens,
        )  # fmt: skip
        return self.renderer.finish(final.finish_reason, usage)

    def error(self, err: ApiError) -> bytes:
        return self.renderer.error_event(err)

    def body(self, choices: Choices, final: Final) -> dict[str, Any]:
        self.renderer.feed([folded_delta(choices.choices[0])])
        self.finish(final)
        return self.renderer.response()


def folded_delta(choice: Choice) -> dict[str, Any]:
    """A whole choice as one delta (reasoning, then text, then each tool call in order)."""
    message = choice.message()
    delta = {k: message[k] for k in ("reasoning_content", "content", "refusal") if message.get(k)}
    calls = message.get("tool_calls")
    if calls:
        delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(calls)]
    return delta
