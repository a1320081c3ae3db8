"""RelaySession: the provider side of one consumer request, from reservation to last token.

It reserves a slot through the scheduler, dispatches to the chosen provider actor, and
hands the caller the stream items as they arrive, in batches (everything ready at once,
so the HTTP layer can write several SSE events in one write). A failure before the first
token is relayed is retried on another provider, each attempt under a fresh request id so
late frames of an abandoned attempt can never be relayed or billed twice — except the
upstream's own refusal (a 4xx with `status`), which any provider would repeat: it is
answered with that status and message at once. A failure before the first token is
always raised as an HTTP error, never handed out as the end of an empty stream. `close` — after
the end, on error, on timeout, or cancelled because the client went away — releases the
reservation and cancels the provider's work exactly once. `ConsumerRequest` owns it.

Nothing waits for what cannot happen: the scheduler queues a request only while an
eligible provider is busy. A model it does not know is 404 unless it has a price (then,
like a known model nobody serves right now, 503 `no_capacity` with `Retry-After`); when
the retries have excluded every eligible provider, the answer is the last provider's
error (502); when the providers able to serve what it needs (a capability, a context
length) left after `fit_to_model` checked, the same 400 that check gives.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field

import trio

from ..actors.provider import ProviderUnavailable
from ..actors.provider_messages import Cancel, Dispatch, StreamChunk, StreamEnd
from ..actors.scheduler_messages import (
    NoCapacity,
    NoCapacityReason,
    Release,
    Reservation,
    Reserve,
)
from ..metrics import QUEUE_WAIT
from ..protocol.errors import (
    ApiError,
    gateway_timeout,
    model_not_found,
    no_capacity,
    provider_failed,
    upstream_rejected,
)
from ..protocol.limits import REMOTE_DISPATCH_TIMEOUT_S
from ..protocol.vocabulary import DEADLINE_CODES, Capability, Outcome, StreamErrorCode
from ..runtime import ActorRef, ActorStopped, AskTimeout, MailboxFull
from .capabilities import unsupported_capability
from .context_length import attempt_body, context_length_exceeded
from .job import Job

log = logging.getLogger(__name__)

Item = StreamChunk | StreamEnd


@dataclass
class _Attempt:
    reservation: Reservation
    request_id: str
    receive: trio.MemoryReceiveChannel[Item]
    started: float
    first_token_at: float | None = None
    tokens: int = 0
    ended: bool = False


@dataclass
class RelaySession:
    """See the module docstring: `start`, `next_batch` until the end, then `close`."""

    scheduler: ActorRef
    job: Job
    model_priced: bool = False  # an unknown model with a price is 503, not 404
    relayed_tokens: int = 0
    attempts: int = 0
    end: StreamEnd | None = None
    ttft_s: float | None = None
    provider_id: str | None = None
    _attempt: _Attempt | None = None
    _excluded: set[str] = field(default_factory=set)
    _last_error: StreamEnd | None = None  # of the last attempt that failed retryably
    _opened: float = field(default_factory=time.monotonic)

    async def start(self) -> None:
        """Reserve a slot and dispatch the request (retrying elsewhere on refusal).

        Raises ApiError (404 unknown model, 503 no capacity, 502 every provider failed).
        """
        if self._attempt is None and self.end is None:
            await self._start()

    async def close(self, failed: bool) -> None:
        """Release the running attempt, if the stream did not end (shielded; once).

        `failed`: the caller failed (the slot is released as an error), rather than gave up.
        """
        attempt = self._attempt
        if attempt is not None:
            with trio.CancelScope(shield=True):
                await self._finish(attempt, Outcome.ERROR if failed else Outcome.CANCELLED)

    async def next_batch(self) -> list[Item]:
        """The next items (at least one); a batch ends with the `StreamEnd` when it arrives.

        Raises ApiError (404 unknown model, 503 no capacity, 504 timeout) if no provider
        could start the request; once tokens flowed, failures arrive as a `StreamEnd`. The
        provider actor enforces the deadline (within one heartbeat interval).
        """
        while True:
            if self.end is not None:
                return []
            if self._attempt is None:
                await self._start()
            attempt = self._attempt
            assert attempt is not None
            first = await self._receive(attempt)
            batch = [first]
            while type(batch[-1]) is StreamChunk:
                try:
                    batch.append(attempt.receive.receive_nowait())
                except trio.WouldBlock:
                    break
                except trio.EndOfChannel:
                    batch.append(_vanished(attempt))
                    break
            last = batch[-1]
            self._count(attempt, batch)
            if type(last) is StreamEnd:
                attempt.ended = True  # the provider side is done with this request id
                if await self._should_retry(attempt, last):
                    continue
                await self._finish(attempt, release_outcome(last))
                if not last.ok and self.relayed_tokens == 0:  # nothing sent yet: an HTTP error
                    if last.error_code in DEADLINE_CODES:
                        raise gateway_timeout()
                    raise provider_error(last)
                self.end = last
            return batch

    # -- attempts ----------------------------------------------------------------------

    async def _start(self) -> None:
        job = self.job
        while True:
            if self.attempts >= job.max_attempts:
                raise provider_error(self._last_error)
            self.attempts += 1
            reservation, reserve = await self._reserve()
            send, receive = trio.open_memory_channel[Item](job.stream_buffer)
            request_id = "req_" + secrets.token_hex(12)
            dispatch = Dispatch(
                request_id=request_id,
                model=job.model,
                body_json=attempt_body(job, reservation.context_length),
                deadline_unix=time.time() + max(0.0, job.deadline - trio.current_time()),
                stream=send,
                kind=job.kind,
                remote=(reservation, reserve) if reservation.replica is not None else None,
            )
            attempt = _Attempt(reservation, request_id, receive, trio.current_time())
            self._attempt = attempt  # from here on, leaving the session releases it
            try:
                # A remote provider's stand-in may first store a large body (cluster mode).
                timeout = 5.0 if dispatch.remote is None else REMOTE_DISPATCH_TIMEOUT_S
                await reservation.provider_ref.ask(dispatch, timeout=timeout)
            except (ProviderUnavailable, ActorStopped, AskTimeout) as exc:
                log.info("dispatch to %s failed (%s); trying another", reservation.provider_id, exc)
                # Refused or gone: nothing runs there. A timeout may still run: cancel it.
                attempt.ended = not isinstance(exc, AskTimeout)
                await self._finish(attempt, Outcome.ERROR)
                self._excluded.add(reservation.provider_id)
                continue
            self.provider_id = reservation.provider_id
            return

    async def _reserve(self) -> tuple[Reservation, Reserve]:
        job = self.job
        now = trio.current_time()
        deadline = min(job.reserve_deadline, job.deadline)
        reserve = Reserve(
            model=job.model,
            prompt_tokens=job.prompt_tokens,
            max_tokens=job.max_tokens,
            min_trust=job.min_trust,
            exclude=frozenset(self._excluded),
            deadline=deadline,
            needs=job.needs,
            min_context=job.min_context,
        )
        try:
            result = await self.scheduler.ask(reserve, timeout=max(0.0, deadline - now) + 2.0)
        except (AskTimeout, ActorStopped):
            raise no_capacity(job.model, retry_after=1.0) from None
        finally:
            QUEUE_WAIT.observe(trio.current_time() - now)
        if isinstance(result, NoCapacity):
            raise self._refusal(result)
        return result, reserve

    def _refusal(self, refused: NoCapacity) -> ApiError:
        """The answer to a request the scheduler could not place (see the module doc)."""
        model, reason = self.job.model, refused.reason
        if reason == NoCapacityReason.UNKNOWN_MODEL and not (self.model_priced or self._excluded):
            return model_not_found(model)
        if reason == NoCapacityReason.EXCLUDED and self._last_error is not None:
            return provider_error(self._last_error)
        if reason == NoCapacityReason.CAPABILITY:  # the capable ones left since the check
            return unsupported_capability(model, [c for c in Capability if c in self.job.needs])
        if reason == NoCapacityReason.CONTEXT:
            return context_length_exceeded(model, self.job.min_context, None)
        why = {
            NoCapacityReason.UNKNOWN_MODEL: "no provider serving it is online",
            NoCapacityReason.OFFLINE: "no provider serving it is online",
            NoCapacityReason.TRUST: f"no provider online has trust {self.job.min_trust}",
            NoCapacityReason.EXCLUDED: "no other provider serves it",
        }.get(reason, "")
        return no_capacity(model, retry_after=max(refused.retry_after_s, 1.0), why=why)

    async def _receive(self, attempt: _Attempt) -> Item:
        """The next item; no timer here: the provider actor ends a request at its deadline."""
        try:
            return await attempt.receive.receive()
        except trio.EndOfChannel:
            return _vanished(attempt)

    def _count(self, attempt: _Attempt, batch: list[Item]) -> None:
        for item in batch:
            if type(item) is StreamChunk and item.tokens:
                if attempt.first_token_at is None:
                    attempt.first_token_at = trio.current_time()
                    self.ttft_s = time.monotonic() - self._opened
                attempt.tokens += item.tokens
                self.relayed_tokens += item.tokens

    async def _should_retry(self, attempt: _Attempt, end: StreamEnd) -> bool:
        if end.ok or not end.retryable or self.relayed_tokens > 0:
            return False
        if self.attempts >= self.job.max_attempts:
            return False
        await self._finish(attempt, Outcome.ERROR)
        self._excluded.add(attempt.reservation.provider_id)
        self._last_error = end
        return True

    async def _finish(self, attempt: _Attempt, outcome: str) -> None:
        """Release the attempt's reservation and stop its provider work — once.

        A full provider mailbox skips the cancel: the provider actor notices the closed
        stream on its next chunk and cancels then.
        """
        if self._attempt is attempt:
            self._attempt = None
        if not attempt.ended and outcome != Outcome.OK:
            with contextlib.suppress(MailboxFull):
                attempt.reservation.provider_ref.tell(Cancel(attempt.request_id))
        attempt.ended = True
        attempt.receive.close()
        ttft = None
        if attempt.first_token_at is not None:
            ttft = attempt.first_token_at - attempt.started
        release = Release(
            reservation_id=attempt.reservation.id,
            outcome=outcome,
            ttft_s=ttft,
            tokens=attempt.tokens,
            duration_s=trio.current_time() - attempt.started,
        )
        await self.scheduler.tell_or_send(release, timeout=10)  # full: wait, never leak the slot


def provider_error(end: StreamEnd | None) -> ApiError:
    """502 for a provider failure (its own error when there is one); the upstream's own
    status and message when it refused the request (a 4xx)."""
    if end is None:
        return provider_failed("No provider could complete the request.")
    if end.status is not None:
        return upstream_rejected(end.status, end.error_message or end.error_code or "")
    return provider_failed(f"The provider failed: {end.error_message or end.error_code}")


def release_outcome(end: StreamEnd) -> str:
    """How a slot whose stream ended is released: a 4xx refusal is not the provider's fault."""
    if end.ok:
        return Outcome.OK
    return Outcome.REJECTED if end.status is not None else Outcome.ERROR


def _vanished(attempt: _Attempt) -> StreamEnd:
    return vanished_end(attempt.tokens)


def vanished_end(tokens: int, why: str = "the provider stopped streaming") -> StreamEnd:
    """The provider side closed the stream without an end: it went away or fell behind
    (retryable while no token was relayed)."""
    return StreamEnd(
        error_code=StreamErrorCode.PROVIDER_GONE, error_message=why, retryable=tokens == 0
    )
