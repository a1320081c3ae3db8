"""`POST /v1/messages/count_tokens`: Anthropic's token count, `{"input_tokens": N}`.

The body is what Anthropic's count takes (`model`, `messages`, `system`, `tools`,
`tool_choice`, `thinking`; any other field is a 400 naming it), validated like a
`/v1/messages` body and translated to chat the same way; the count is a provider's own
tokenizer's where one answers, else the documented estimate
(`inference/token_count.py`). It is never billed; it counts as one request against the
key's requests-per-minute limit. Errors are in Anthropic's shape.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, g, jsonify, request

from ..inference.token_count import count_prompt_tokens
from ..protocol.anthropic_request import parse_messages_request
from ..protocol.anthropic_translate import anthropic_to_chat
from ..protocol.chat import MAX_OUTPUT_TOKENS
from ..protocol.errors import invalid_request, load_json_object
from .context import authenticate, coordinator

token_count = Blueprint("token_count", __name__)

#: The fields of a count_tokens body.
COUNT_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking"})


@token_count.post("/v1/messages/count_tokens")
async def count_tokens() -> Any:
    key = await authenticate()
    coord = coordinator()
    raw = await request.get_data()
    data = load_json_object(raw, max_bytes=coord.settings.max_body_bytes)
    for name in data:
        if name not in COUNT_FIELDS:
            raise invalid_request(f"{name}: Extra inputs are not permitted", param=name)
    # validated as a /v1/messages body, with the one field a count does not take
    body = json.dumps({**data, "max_tokens": MAX_OUTPUT_TOKENS}, ensure_ascii=False)
    req = parse_messages_request(body)
    g.model = req.model
    wire = anthropic_to_chat(req)
    priced = await coord.store.get_pricing(req.model) is not None
    tokens, _counted = await count_prompt_tokens(
        coord, coord.settings, key, req.model, wire, model_priced=priced
    )
    return jsonify({"input_tokens": tokens})
