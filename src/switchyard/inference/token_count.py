"""Counting a prompt's tokens with a provider's own tokenizer (`/v1/messages/count_tokens`).

A count is a `tokenize` request: the chat body goes to one provider of the model, whose
agent asks its upstream's `/tokenize` (vLLM, llama.cpp) and answers the count as the
`complete` frame's `prompt_tokens`, with no output. It is cheap but not free for the
provider, so it takes a slot like any request, only for that round trip, and is bounded:
it waits at most `TOKENIZE_RESERVE_S` for a slot, is tried once, and gives up after
`TOKENIZE_TIMEOUT_S`. It is never billed (no hold, no settlement) but counts as one
request against the key's requests-per-minute limit.

Whenever no provider can count it (none online or free, a backend without a tokenizer,
a failure, the timeout, the coordinator shutting down), the answer is the documented
estimate `job.estimate_prompt_tokens` (≈4 characters a token plus per-message framing;
images `IMAGE_PROMPT_TOKENS`). A model nobody knows is 404 either way.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import trio

from ..metrics import RATE_LIMITED
from ..protocol.errors import ApiError, rate_limited
from ..protocol.vocabulary import ApiErrorCode, RequestKind, Trust
from ..settings import Settings
from ..storage.models import ApiKeyRecord
from .job import new_job
from .relay import RelaySession
from .request import RequestServices

log = logging.getLogger(__name__)

#: The most a count may take end to end, and the most it waits for a free slot.
TOKENIZE_TIMEOUT_S = 5.0
TOKENIZE_RESERVE_S = 1.0


async def count_prompt_tokens(
    services: RequestServices,
    settings: Settings,
    key: ApiKeyRecord,
    model: str,
    wire: dict[str, Any],
    *,
    model_priced: bool = False,
) -> tuple[int, bool]:
    """(the prompt tokens of chat body `wire`, whether a provider counted them);
    `model_priced`: a model nobody serves is known (estimated) rather than 404."""
    limits = await services.keys.limits(key.id)
    refusal = await services.limiter.acquire(key.id, limits, 0)
    if refusal is not None:
        RATE_LIMITED.labels(refusal.limit).inc()
        raise rate_limited(refusal.retry_after_s, refusal.message)
    job = new_job(
        model, wire, settings, Trust.SELF_SIGNED, max_tokens=0, kind=RequestKind.TOKENIZE, n=1
    )
    now = trio.current_time()
    job = replace(
        job,
        deadline=now + TOKENIZE_TIMEOUT_S,
        reserve_deadline=now + TOKENIZE_RESERVE_S,
        max_attempts=1,
    )
    if not services.gate.enter():
        return job.prompt_tokens, False
    relay = RelaySession(services.scheduler, job, model_priced=model_priced)
    try:
        with trio.move_on_at(job.deadline):
            await relay.start()
            while relay.end is None:
                await relay.next_batch()
    except ApiError as exc:
        if exc.code == ApiErrorCode.MODEL_NOT_FOUND:
            raise
        log.info("count_tokens for %s: no provider count (%s); estimating", model, exc.code)
    finally:
        with trio.CancelScope(shield=True):
            await relay.close(failed=False)
        services.gate.leave()
    end = relay.end
    if end is not None and end.ok and end.prompt_tokens is not None:
        return end.prompt_tokens, True
    return job.prompt_tokens, False


__all__ = ["TOKENIZE_RESERVE_S", "TOKENIZE_TIMEOUT_S", "count_prompt_tokens"]
