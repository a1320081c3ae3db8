"""Job: one validated consumer request, ready to run: normalized body, limits, deadlines.

`new_job` builds it from the normalized chat body the HTTP layer parsed: it serializes
the body once (every attempt's `inference_request` frame reuses those bytes), refuses a
body that could not fit a frame (413), estimates the prompt's tokens (what is held and
rate-limited before the provider reports the real count) and sets the deadlines. What
the request needs of its model (`needs`, from `capabilities.required_capabilities`) comes
from the route; how many output tokens are held for (`hold_tokens`) is decided against
the model's context length by `context_length.fit_to_model` before anything is held.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from ..protocol.errors import request_frame_too_large
from ..protocol.frames import ChatRequestBody, dump_request_body
from ..protocol.limits import MAX_COORDINATOR_FRAME_BYTES, MAX_REQUEST_BODY_JSON_BYTES
from ..protocol.vocabulary import Capability, Trust
from ..settings import Settings


@dataclass(frozen=True)
class Job:
    """What to run: the normalized request plus routing and timing constraints."""

    model: str
    body: ChatRequestBody
    body_json: str  # `body` on the wire (`frames.dump_request_body`), sent by every attempt
    prompt_tokens: int
    deadline: float  # trio clock
    reserve_deadline: float  # trio clock; waiting for a slot gives up here
    min_trust: Trust = Trust.SELF_SIGNED
    max_attempts: int = 3
    stream_buffer: int = 256
    max_tokens: int | None = None  # what the consumer asked for (None: the model's limit)
    max_tokens_cap: int = 32_768  # the most held without max_tokens (the operator's cap)
    hold_tokens: int = 32_768  # output tokens held for (fit_to_model decides)
    needs: frozenset[Capability] = frozenset()  # capabilities the request needs of its model

    @property
    def min_context(self) -> int:
        """The context length a provider needs to serve it (0: any)."""
        return self.max_tokens or 0


def estimate_prompt_tokens(body: ChatRequestBody) -> int:
    """A cheap upper-leaning estimate (≈4 characters a token, plus per-message overhead)."""
    return sum(len(m.content) // 4 + 4 for m in body.messages) + 2


def new_job(
    model: str,
    body: ChatRequestBody,
    settings: Settings,
    min_trust: Trust,
    needs: frozenset[Capability] = frozenset(),
) -> Job:
    """The job for `body` (see the module docstring); ApiError 413 if it cannot be sent."""
    wire = dump_request_body(body)  # serialized once; every attempt's frame reuses it
    if len(wire) > MAX_REQUEST_BODY_JSON_BYTES:
        raise request_frame_too_large(MAX_COORDINATOR_FRAME_BYTES)
    now = trio.current_time()
    return Job(
        model=model,
        body=body,
        body_json=wire.decode(),
        prompt_tokens=estimate_prompt_tokens(body),
        deadline=now + settings.request_timeout_s,
        reserve_deadline=now + settings.reserve_timeout_s,
        min_trust=min_trust,
        max_attempts=settings.max_attempts,
        stream_buffer=settings.provider.stream_buffer,
        max_tokens=body.max_tokens,
        max_tokens_cap=settings.default_max_tokens_cap,
        hold_tokens=body.max_tokens or settings.default_max_tokens_cap,
        needs=needs,
    )
