"""How many tokens a request may generate, from its model's context length (issue 14, item 5).

Before anything is held, `model_profile` asks the scheduler for the model's `ModelProfile`
(its providers' largest context length and their capabilities) and `fit_to_profile`
decides (`fit_to_model` does both):

- a request whose `max_tokens` exceeds the largest context of the providers online (when
  every one of them reported one) is a 400 `context_length_exceeded`; one that fits is
  routed only to providers whose context holds it (`Job.min_context`);
- a request without `max_tokens` may generate what the model allows: money and rate-limit
  tokens are held for the model's remaining context (largest context - the prompt
  estimate), at most `SWITCHYARD_DEFAULT_MAX_TOKENS_CAP`; when no context is known the
  cap itself is held.

Nothing the consumer did not ask for is sent upstream unless the cap requires it:
`attempt_body` adds `max_tokens` (the held amount) to an attempt's body only when the
chosen provider could otherwise generate more than was held (its context is unknown, or
its remaining context exceeds the hold). Output beyond the hold would be charged at the
hold, as any report above it is.

The prompt count in that arithmetic is the cheap estimate (≈4 characters a token): about
right for English prose, low for code, numbers and most other languages (down to about one
character a token: 4 times the estimate, for CJK scripts or a run of single letters),
and a fixed guess for images. Where the error
decides the consumer's output budget, `wants_exact_count` says to ask a provider's own
tokenizer first (`token_count.refit_exactly`, one bounded round trip). With `M =
EXACT_COUNT_MARGIN` (the prompt may be up to M times the estimate), `context` the largest
context and `cap` the operator's cap, that is a request without `max_tokens` on a
context-bounded chat model where either

- the estimate leaves more than `cap` (so `cap` is held and sent upstream as `max_tokens`)
  but a prompt of M * the estimate would not (`context - M * estimate < cap`): on a prompt
  that long the upstream would refuse `prompt + max_tokens > context` (vLLM's 400); or
- the hold is the remaining context (`context - estimate <= cap`) and a prompt of M * the
  estimate could fill half the context or more (`2 * M * estimate >= context`): the
  estimate's error is then a large share of the hold, which would be too small (output
  beyond it goes unpaid) or too large (money and rate-limit tokens held in vain, a 402 for
  an account that could pay the real hold).

Everything else takes no extra round trip: a prompt estimated under an eighth of the
context that (where the context exceeds the cap) leaves room for the cap even at M times
its estimate. There the estimate's error changes the hold by a small fraction and nothing
the upstream checks. M = 4 covers text down to one character a token; the price is a
round trip for prompts from an eighth of the context up, small beside their prefill.
Only chat bodies are counted
(chat, Anthropic messages, Responses): the upstream's `/tokenize` as the agent asks it
takes messages, so native `/v1/completions` prompts keep the estimate.
"""

from __future__ import annotations

from dataclasses import replace

from ..actors.scheduler_messages import ModelProfile, ModelProfileQuery
from ..protocol.errors import ApiError, invalid_request, no_capacity
from ..protocol.vocabulary import ApiErrorCode, RequestKind
from ..runtime import ActorRef, ActorStopped, AskTimeout
from .capabilities import check_capabilities
from .job import Job

PROFILE_TIMEOUT_S = 5.0
#: How many times the estimate a prompt may really be (see the module docstring).
EXACT_COUNT_MARGIN = 4


async def fit_to_model(scheduler: ActorRef, job: Job) -> Job:
    """`job` checked against its model's providers, with its token hold decided.

    Raises ApiError 400 (a capability no provider has, `max_tokens` beyond the context),
    or 503 when the scheduler does not answer.
    """
    return fit_to_profile(job, await model_profile(scheduler, job.model))


async def model_profile(scheduler: ActorRef, model: str) -> ModelProfile:
    """The model as its providers describe it (ApiError 503 when the scheduler is mute)."""
    try:
        profile: ModelProfile = await scheduler.ask(
            ModelProfileQuery(model), timeout=PROFILE_TIMEOUT_S
        )
    except (AskTimeout, ActorStopped):
        raise no_capacity(model, retry_after=1.0) from None
    return profile


def fit_to_profile(job: Job, profile: ModelProfile) -> Job:
    """`job` checked against `profile`, with its token hold decided from its prompt count
    (ApiError 400: a capability no provider has, `max_tokens` beyond the context)."""
    check_capabilities(job.model, job.needs, profile)
    hold = hold_tokens(
        job.model, job.requested_max_tokens, job.prompt_tokens, profile, job.max_tokens_cap
    )
    return job if hold == job.max_tokens else replace(job, max_tokens=hold)


def wants_exact_count(job: Job, profile: ModelProfile) -> bool:
    """Whether the estimate's error could decide `job`'s output budget, so a provider's
    tokenizer should count its prompt first (the rule is in the module docstring)."""
    context = profile.context_length
    if job.requested_max_tokens is not None or job.kind is not RequestKind.CHAT:
        return False
    if not profile.context_bounded or context is None:
        return False
    longest = EXACT_COUNT_MARGIN * job.prompt_tokens
    if context - job.prompt_tokens > job.max_tokens_cap:
        return context - longest < job.max_tokens_cap
    return 2 * longest >= context


def hold_tokens(
    model: str, requested: int | None, prompt_tokens: int, profile: ModelProfile, cap: int
) -> int:
    """The most output tokens one choice is held for (see the module docstring)."""
    context = profile.context_length
    bounded = profile.context_bounded and context is not None
    if requested is not None:
        if bounded and context is not None and requested > context:
            raise context_length_exceeded(model, requested, context)
        return requested
    if bounded and context is not None:
        return max(1, min(cap, context - prompt_tokens))
    return cap


def attempt_body(job: Job, provider_context: int | None) -> str:
    """The wire body for one attempt on a provider with `provider_context` (None: unknown).

    `job.body_json` as is, unless the consumer set no `max_tokens` and this provider could
    generate more than was held: then `max_tokens` = the hold (per choice) is added.
    """
    if job.requested_max_tokens is not None:
        return job.body_json
    if provider_context is not None and provider_context - job.prompt_tokens <= job.max_tokens:
        return job.body_json
    return with_max_tokens(job.body_json, job.max_tokens)


def with_max_tokens(body_json: str, max_tokens: int) -> str:
    """A serialized body (a JSON object without `max_tokens`) with `max_tokens` added."""
    rest = body_json[1:].lstrip()
    return f'{{"max_tokens":{int(max_tokens)}{"," if rest != "}" else ""}{rest}'


def context_length_exceeded(model: str, requested: int, context: int | None) -> ApiError:
    """400 for `max_tokens` above the largest context length among the model's providers."""
    has = f"a context length of {context} tokens" if context else "a shorter context length"
    return invalid_request(
        f"max_tokens is {requested}, but model '{model}' has {has} "
        "(prompt and output together). Lower max_tokens.",
        param="max_tokens",
        code=ApiErrorCode.CONTEXT_LENGTH_EXCEEDED,
    )


__all__ = [
    "EXACT_COUNT_MARGIN",
    "attempt_body",
    "context_length_exceeded",
    "fit_to_model",
    "fit_to_profile",
    "hold_tokens",
    "model_profile",
    "wants_exact_count",
    "with_max_tokens",
]
