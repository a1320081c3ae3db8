"""OpenAI chat-completions shapes of the simulated server's answers (pure, no I/O).

`ChunkRenderer` turns backend events into `chat.completion.chunk` server-sent events, one
per delta (an opening `{"role": "assistant", "content": ""}`, content, `reasoning_content`,
tool calls by index with argument fragments), then the finish chunk, the usage chunk when
asked for and `[DONE]`; or accumulates a response's deltas into one `chat.completion`.
"""

from __future__ import annotations

import json
import time
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from switchyard.protocol.errors import ApiError
from switchyard.protocol.openai_format import new_chat_completion_id

from .backend import Deltas, Event, Finish

_DONE = b"data: [DONE]\n\n"


class ChunkRenderer:
    """Renders one response's events as `chat.completion.chunk` SSE events (one per delta),
    or accumulates them into a `chat.completion` body."""

    def __init__(self, model: str) -> None:
        self.id = new_chat_completion_id()
        self.model = model
        self.created = int(time.time())
        self._envelope = (
            f'data: {{"id":{_quote(self.id)},"object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{_quote(model)},'
        )

    def event(self, event: Event, include_usage: bool) -> bytes:
        """The SSE bytes of one event (for a `Finish`: finish, usage if asked, `[DONE]`)."""
        if isinstance(event, Deltas):
            return "".join(map(self._delta, event.items)).encode()
        if not isinstance(event, Finish):
            raise TypeError(f"not a Deltas or Finish event: {event!r}")
        out = self._choice("{}", 0, _quote(event.finish_reason))
        if include_usage:
            usage = json.dumps(usage_dict(event), separators=(",", ":"))
            out += f'{self._envelope}"choices":[],"usage":{usage}}}\n\n'
        return out.encode() + _DONE

    def error(self, err: ApiError) -> bytes:
        """An error event after the first token, then `[DONE]`."""
        return b"data: " + json.dumps(err.openai_body()).encode() + b"\n\n" + _DONE

    def _delta(self, delta: dict[str, Any]) -> str:
        if len(delta) == 1 and type(delta.get("content")) is str:
            return self._choice('{"content":' + _quote(delta["content"]) + "}", 0, "null")
        fields = dict(delta)
        index = fields.pop("index", 0)
        reason = fields.pop("finish_reason", None)
        if fields.get("role") is not None and "content" not in fields:
            fields["content"] = ""  # OpenAI's opening chunk
        body = json.dumps(fields, separators=(",", ":"))
        return self._choice(body, index, "null" if reason is None else _quote(reason))

    def _choice(self, delta: str, index: int, reason: str) -> str:
        return (
            f'{self._envelope}"choices":[{{"index":{int(index)},"delta":{delta},'
            f'"logprobs":null,"finish_reason":{reason}}}]}}\n\n'
        )

    def completion(self, deltas: list[dict[str, Any]], finish: Finish) -> dict[str, Any]:
        """A non-stream `chat.completion` body from all of a response's deltas."""
        content: list[str] = []
        reasoning: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        for delta in deltas:
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            for call in delta.get("tool_calls") or []:
                fn = call.get("function") or {}
                slot = calls.setdefault(
                    call.get("index", 0),
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = call.get("id") or slot["id"]
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
        text = "".join(content)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not calls else None,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = [calls[i] for i in sorted(calls)]
        if any(reasoning):
            message["reasoning_content"] = "".join(reasoning)
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish.finish_reason,
                }
            ],
            "usage": usage_dict(finish),
        }


def usage_dict(finish: Finish) -> dict[str, Any]:
    """OpenAI `usage` for a finished response (reasoning tokens when there were any asked)."""
    usage: dict[str, Any] = {
        "prompt_tokens": finish.prompt_tokens,
        "completion_tokens": finish.completion_tokens,
        "total_tokens": finish.prompt_tokens + finish.completion_tokens,
    }
    if finish.reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": finish.reasoning_tokens}
    return usage
