"""OpenAI request models and the chat-completions body the wire carries to a provider.

`ChatRequestBody` (`chat_request.py`) validates `POST /v1/chat/completions`;
`wire_chat_request` builds what the `inference_request` frame carries from the consumer's
own JSON object: every field the coordinator does not own, untouched, with

- `model` the public model id (the agent maps it to its upstream's name);
- `stream: true` and `stream_options: {"include_usage": true}` always (the coordinator
  builds a non-streamed answer from the deltas, and bills from the upstream's usage);
- `max_tokens` as the consumer asked (`max_completion_tokens` folded into it), or left
  out: the model's own limit applies (`context_length.attempt_body` may add the hold);
- `stop` normalized (empty strings dropped), as the coordinator enforces it too;
- `user` removed (privacy: providers never see who asks), `null` fields removed (null is
  the default), and `developer` turns sent as `system` (few chat templates know it).

`stream_wire` asks any wire body for a stream with a final usage report. Text
completions are built by `completion_request.py`, embeddings by `embeddings.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from .chat import MAX_OUTPUT_TOKENS, SEED_MAX, SEED_MIN, normalize_stop
from .chat_request import (
    ChatRequestBody,
)

#: Top-level fields of a chat body the coordinator sets itself (or removes).
OWNED_FIELDS = frozenset(
    {"model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "user", "stop"}
)

MaxTokens = Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
Seed = Annotated[int, Field(ge=SEED_MIN, le=SEED_MAX)]
Stop = Annotated[list[str] | None, BeforeValidator(normalize_stop)]


def wire_chat_request(
    data: dict[str, Any], req: ChatRequestBody, max_tokens: int | None
) -> dict[str, Any]:
    """The wire body for a validated chat request (`data` is the consumer's JSON object);
    `max_tokens` None leaves it out (the model's own limit applies)."""
    wire = {k: v for k, v in data.items() if k not in OWNED_FIELDS and v is not None}
    wire["model"] = req.model
    wire["messages"] = [
        {**m, "role": "system"} if m.get("role") == "developer" else m for m in data["messages"]
    ]
    if max_tokens is not None:
        wire["max_tokens"] = max_tokens
    if req.stop:
        wire["stop"] = req.stop
    return stream_wire(wire)


def stream_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """Ask the provider for a stream with a final usage report (every wire body does)."""
    wire["stream"] = True
    wire["stream_options"] = {"include_usage": True}
    return wire
