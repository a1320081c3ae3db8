"""ConsumerRequest: one consumer request, owned end to end by one object.

    async with ConsumerRequest(services, key, job, route=path, stream=True) as req:
        out = await req.next_output()        # ... until `out.final` is set
    # or, for a whole answer:  choices, final = await req.collect()

Entering admits the request, in order: the gate (503 while shutting down), the model's
context length and capabilities (400: `context_length.fit_to_profile`, which also decides how
many output tokens are held for), the key's rate limits (429), where the estimate's error
could decide the output budget a provider's count of the prompt (`token_count.refit_exactly`,
bounded, no further request against the key's rate), a hold on the account (402),
a provider slot and the dispatch (404, 503, 502). A failure undoes what came before it, so
nothing is held when entering raises. Then it hands out the provider's output as batches of
deltas (content, reasoning, tool calls, logprobs... per choice), with stop sequences
enforced here (`OutputFilter`, so they work whatever the backend does) and the end turned
into a `Final`. Leaving — normally, on an error, or cancelled because the client went away —
finishes the request exactly once and shielded: the slot is released (and the provider's
work cancelled), the hold settled from what was delivered, the unused rate-limit tokens
refunded, the gate left, the metrics and the access log line written, all from one `Result`
(whose outcome `outcome_of` names)."""

from __future__ import annotations

import json
import logging
import time
from types import TracebackType
from typing import Any, Protocol

import trio

from ..actors.provider_messages import StreamChunk
from ..actors.scheduler_messages import ModelProfile
from ..metrics import ACTIVE_STREAMS, LATENCY, RATE_LIMITED, RELAYED_TOKENS, TTFT
from ..protocol.chat_choices import Choices
from ..protocol.errors import rate_limited, service_unavailable
from ..protocol.vocabulary import ApiErrorCode, Outcome
from ..runtime import ActorRef
from ..storage.models import ApiKeyRecord
from .charge import Charge
from .context_length import fit_to_profile, model_profile, wants_exact_count
from .gate import RequestGate
from .job import Job
from .keys import ApiKeyCache
from .output import Final, Output, Result, Usage, outcome_of
from .output_filter import OutputFilter
from .ratelimit import KeyLimiter
from .relay import RelaySession, provider_error
from .token_count import refit_exactly

ACCESS = logging.getLogger("switchyard.access")


class Fold(Protocol):
    """Where a whole answer's deltas are gathered (`Choices` is one)."""

    def add(self, deltas: list[dict[str, Any]]) -> None: ...

    def end(self) -> None:
        """The stream ended well: raise ApiError if the answer is not usable."""


class RequestServices(Protocol):
    """What a consumer request uses of the coordinator (`Coordinator` is one)."""

    @property
    def gate(self) -> RequestGate: ...

    @property
    def keys(self) -> ApiKeyCache: ...

    @property
    def limiter(self) -> KeyLimiter: ...

    @property
    def billing(self) -> ActorRef: ...

    @property
    def scheduler(self) -> ActorRef: ...


class ConsumerRequest:
    """See the module docstring. `stream`: output counts as delivered as it is handed out
    (else only once `collect` returns the whole answer)."""

    def __init__(
        self,
        services: RequestServices,
        key: ApiKeyRecord,
        job: Job,
        *,
        route: str,
        stream: bool,
    ) -> None:
        self.key, self.job, self.route = key, job, route
        self.result: Result | None = None  # set once, when the request finishes
        self._services = services
        self._delivered = stream
        self._filter = OutputFilter(job.stop, job.n)
        self._override: str | None = None
        self._final: Final | None = None
        self._reserved = 0  # rate-limit tokens debited on admission
        self._started = 0.0
        self._charge: Charge | None = None
        self._relay: RelaySession | None = None

    # -- admission ---------------------------------------------------------------------

    async def __aenter__(self) -> ConsumerRequest:
        services = self._services
        if not services.gate.enter():
            raise service_unavailable(
                "The coordinator is shutting down.", ApiErrorCode.SHUTTING_DOWN, retry_after=5
            )
        try:
            profile = await model_profile(services.scheduler, self.job.model)
            self.job = fit_to_profile(self.job, profile)
            self._reserved = await self._admit()
            try:
                if wants_exact_count(self.job, profile):
                    await self._count_exactly(profile)
                charge = await Charge.hold(services.billing, self.key, self.job)
            except BaseException:
                services.limiter.refund(self.key.id, self._reserved)
                raise
        except BaseException:
            services.gate.leave()
            raise
        self._charge = charge
        self._started = time.monotonic()
        ACTIVE_STREAMS.inc()
        self._relay = RelaySession(services.scheduler, self.job, model_priced=charge.priced)
        try:
            await self._relay.start()
        except BaseException as exc:
            await self._finish(exc)
            raise
        return self

    async def _admit(self) -> int:
        """Apply the key's rate limits; the tokens debited (ApiError 429 when refused)."""
        services, key_id = self._services, self.key.id
        limits = await services.keys.limits(key_id)
        tokens = self.job.prompt_tokens + self.job.max_output_tokens
        refusal = await services.limiter.acquire(key_id, limits, tokens)
        if refusal is not None:
            RATE_LIMITED.labels(refusal.limit).inc()
            raise rate_limited(refusal.retry_after_s, refusal.message)
        return tokens

    async def _count_exactly(self, profile: ModelProfile) -> None:
        """Refit the admitted job on a provider's count of its prompt (`refit_exactly`; no
        further request against the key's rate): rate-limit tokens it no longer needs are
        given back (more are not taken: the end of the request squares them, as for any
        use beyond the estimate)."""
        self.job = await refit_exactly(self._services.scheduler, self.job, profile)
        tokens = self.job.prompt_tokens + self.job.max_output_tokens
        if tokens < self._reserved:
            self._services.limiter.refund(self.key.id, self._reserved - tokens)
            self._reserved = tokens

    # -- output ------------------------------------------------------------------------

    async def next_output(self) -> Output:
        """The next batch of deltas; the last batch has `final` set (then no more come).

        Raises ApiError (504; the upstream's own 4xx; 502 when no provider could run it)
        if the request fails before any token was relayed; later failures end the output
        with `Final.error`.
        """
        if self._final is not None:
            return Output(final=self._final)
        relay = self._relay
        assert relay is not None, "enter the request first"
        batch = await relay.next_batch()
        out = Output()
        deltas, feed = out.deltas, self._filter.feed
        for item in batch:
            if type(item) is StreamChunk:
                feed(item.deltas, deltas)
                if self._filter.done:
                    break  # nothing after the stop sequence is shown
        end = relay.end
        filt, n = self._filter, self.job.n
        if filt.done:
            out.final = Final(filt.finish_reasons_for(n, "stop"), self._usage(), filt.matched[0])
        elif end is not None:
            filt.flush(deltas)
            if end.ok:
                reasons = filt.finish_reasons_for(n, end.finish_reason or "stop")
                stop = filt.matched.get(0, end.stop_sequence)
                out.final = Final(reasons, self._usage(), stop)
            else:
                reasons = filt.finish_reasons_for(n, "stop")
                out.final = Final(reasons, self._usage(), error=provider_error(end))
        self._final = out.final
        return out

    async def collect(self) -> tuple[Choices, Final]:
        """The whole answer, folded per choice, and how it ended; a provider failure
        raises (502), and the output counts as delivered only once this returns."""
        choices = Choices(self.job.n)
        return choices, await self.collect_into(choices)

    async def collect_into(self, fold: Fold) -> Final:
        """The whole answer folded into `fold` (`Choices`, or an embeddings fold), and how
        it ended; as `collect`: a failure raises, and delivery counts only on return. A
        fold that raises ApiError in `add` or `end` (the answer is unusable) fails the
        request before it counts as delivered."""
        while True:
            out = await self.next_output()
            fold.add(out.deltas)
            if out.final is not None:
                break
        final = out.final
        if final.error is not None:
            raise final.error
        fold.end()
        self._delivered = True
        return final

    def too_slow(self) -> None:
        """The client stopped reading its stream, which is being ended for it."""
        self._override = Outcome.CONSUMER_TOO_SLOW

    def _usage(self) -> Usage:
        """The provider's report when it sent one, else what we estimated and relayed."""
        relay = self._relay
        assert relay is not None
        end = relay.end
        if end is not None and end.ok and end.prompt_tokens is not None:
            return Usage(
                end.prompt_tokens,
                end.completion_tokens or 0,
                end.reasoning_tokens,
                end.cached_tokens,
            )
        return Usage(self.job.prompt_tokens, relay.relayed_tokens)

    # -- the end -----------------------------------------------------------------------

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._finish(exc)

    async def _finish(self, exc: BaseException | None) -> None:
        """Release, settle, refund, leave, measure and log: once (see the module doc)."""
        relay, charge = self._relay, self._charge
        if self.result is not None or relay is None or charge is None:
            return
        self.result = result = Result(
            outcome=outcome_of(relay.end, exc, self._override),
            usage=self._usage(),
            relayed_tokens=relay.relayed_tokens,
            end=relay.end,
            provider_id=relay.provider_id,
            attempts=relay.attempts,
            ttft_s=relay.ttft_s,
            duration_s=time.monotonic() - self._started,
        )
        with trio.CancelScope(shield=True):
            await relay.close(failed=isinstance(exc, Exception))
            await charge.settle(result, self._delivered)
        services = self._services
        services.gate.leave()
        ACTIVE_STREAMS.dec()
        used = result.usage.prompt_tokens + result.usage.completion_tokens
        services.limiter.refund(self.key.id, self._reserved - used)
        self._observe(result)

    def _observe(self, result: Result) -> None:
        LATENCY.labels(self.route).observe(result.duration_s)
        RELAYED_TOKENS.inc(result.relayed_tokens)
        ttft = result.ttft_s
        if ttft is not None:
            TTFT.labels(self.route).observe(ttft)
        ACCESS.info(
            json.dumps(
                {
                    "event": "request_end", "route": self.route, "model": self.job.model,
                    "key": self.key.prefix, "account": self.key.account_id,
                    "provider": result.provider_id, "attempts": result.attempts,
                    "outcome": result.outcome,
                    "prompt_tokens": result.usage.prompt_tokens,
                    "completion_tokens": result.usage.completion_tokens,
                    "ttft_ms": round(ttft * 1000) if ttft else None,
                    "duration_ms": round(result.duration_s * 1000),
                }
            )
        )  # fmt: skip
