"""Counting a prompt's tokens with a provider's own tokenizer: `/v1/messages/count_tokens`,
and a request's prompt where the count decides its output budget.

A count is a `tokenize` request: the chat body goes to one provider of the model, whose
agent asks its upstream's `/tokenize` (vLLM, llama.cpp) and answers the count as the
`complete` frame's `prompt_tokens`, with no output. It is cheap but not free for the
provider, so it takes a slot like any request, only for that round trip, and is bounded:
it waits at most `TOKENIZE_RESERVE_S` for a slot, is tried once, and gives up after
`TOKENIZE_TIMEOUT_S`. It is never billed (no hold, no settlement). `provider_count` is
that round trip, the one home of it; its two users:

- `count_prompt_tokens` (the count_tokens route) counts it as one request against the
  key's requests-per-minute limit;
- `refit_exactly` (a consumer request without `max_tokens` whose hold the estimate's
  error could decide: `context_length.wants_exact_count`) does not: the request itself was
  admitted already, and the count is part of it. Its hold, rate-limit tokens and any
  `max_tokens` sent upstream then use the provider's count; when no provider can count,
  the estimate stays. Both outcomes are counted in `switchyard_exact_prompt_counts`.

Whenever no provider can count it (none online or free, a backend without a tokenizer,
a failure, the timeout, the coordinator shutting down), the answer is the documented
estimate `job.estimate_prompt_tokens` (≈4 characters a token plus per-message framing;
images `IMAGE_PROMPT_TOKENS`). A model nobody knows is 404 either way.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio

from ..actors.scheduler_messages import ModelProfile
from ..metrics import EXACT_PROMPT_COUNTS, RATE_LIMITED
from ..protocol.errors import ApiError, rate_limited
from ..protocol.vocabulary import ApiErrorCode, PromptCount, RequestKind, Trust
from ..runtime import ActorRef
from ..settings import Settings
from ..storage.models import ApiKeyRecord
from .context_length import fit_to_profile
from .job import Job, new_job
from .relay import RelaySession

if TYPE_CHECKING:
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
    if not services.gate.enter():
        return job.prompt_tokens, False
    try:
        counted = await provider_count(services.scheduler, job, model_priced=model_priced)
    finally:
        services.gate.leave()
    return (job.prompt_tokens, False) if counted is None else (counted, True)


async def provider_count(
    scheduler: ActorRef, job: Job, *, model_priced: bool = False
) -> int | None:
    """The prompt tokens of `job`'s chat body by one provider's tokenizer, or None when no
    provider could count them (see the module docstring; ApiError 404 only for a model
    nobody knows). Nothing is held, billed or rate-limited here."""
    now = trio.current_time()
    job = replace(
        job,
        kind=RequestKind.TOKENIZE,
        max_tokens=0,
        requested_max_tokens=0,
        n=1,
        stop=(),
        needs=frozenset(),
        deadline=min(job.deadline, now + TOKENIZE_TIMEOUT_S),
        reserve_deadline=min(job.reserve_deadline, now + TOKENIZE_RESERVE_S),
        max_attempts=1,
    )
    relay = RelaySession(scheduler, job, model_priced=model_priced)
    try:
        with trio.move_on_at(job.deadline):
            await relay.start()
            while relay.end is None:
                await relay.next_batch()
    except ApiError as exc:
        if exc.code == ApiErrorCode.MODEL_NOT_FOUND:
            raise
        log.info("prompt count for %s: no provider count (%s); estimating", job.model, exc.code)
    finally:
        with trio.CancelScope(shield=True):
            await relay.close(failed=False)
    end = relay.end
    if end is not None and end.ok and end.prompt_tokens is not None:
        return end.prompt_tokens
    return None


async def refit_exactly(scheduler: ActorRef, job: Job, profile: ModelProfile) -> Job:
    """`job` (fit to `profile` on its estimate) refit on a provider's count of its prompt,
    or as it is when no provider could count it (see the module docstring)."""
    try:
        counted = await provider_count(scheduler, job)
    except ApiError:
        counted = None  # a model nobody knows: the request itself answers for it
    if counted is None:
        EXACT_PROMPT_COUNTS.labels(PromptCount.ESTIMATED).inc()
        return job
    EXACT_PROMPT_COUNTS.labels(PromptCount.COUNTED).inc()
    return fit_to_profile(replace(job, prompt_tokens=counted), profile)


__all__ = [
    "TOKENIZE_RESERVE_S",
    "TOKENIZE_TIMEOUT_S",
    "count_prompt_tokens",
    "provider_count",
    "refit_exactly",
]
