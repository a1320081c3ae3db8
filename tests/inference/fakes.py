"""Fake actor refs for unit tests of the consumer request path (no actor system, no sockets).

- `FakeRef`: records what it is told and asked; `on_ask` answers (or raises) asks.
- `FakeProvider`: a provider actor's stand-in: accepts a `Dispatch` and feeds its stream
  channel a scripted list of items (closing it if the script says so).
- `FakeScheduler`: hands out reservations on the given providers in order, skipping
  excluded ones; `NoCapacity` when none is left; answers `ModelProfileQuery` with its
  `profile` (by default: no provider said anything about context or capabilities).
- `FakeServices`: what `ConsumerRequest` uses of the coordinator, with a real rate
  limiter and key cache over a memory store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio

from switchyard.actors.billing_messages import Hold, HoldGranted, Settle
from switchyard.actors.provider_messages import Cancel, Dispatch, StreamChunk, StreamEnd
from switchyard.actors.scheduler_messages import (
    ModelProfile,
    ModelProfileQuery,
    NoCapacity,
    NoCapacityReason,
    Release,
    Reservation,
    Reserve,
)
from switchyard.billing.pricing import FREE, Price, hold_amount
from switchyard.inference.gate import RequestGate
from switchyard.inference.job import Job, new_job
from switchyard.inference.keys import ApiKeyCache
from switchyard.inference.ratelimit import RateLimiter
from switchyard.protocol.vocabulary import Capability, Trust
from switchyard.settings import Settings
from switchyard.storage.memory import MemoryStore
from switchyard.storage.models import ApiKeyRecord

Item = StreamChunk | StreamEnd
CLOSE = object()  # in a provider script: close the stream channel without an end


class FakeRef:
    """Stands in for an `ActorRef` (see the module docstring)."""

    def __init__(self, name: str, on_ask: Callable[[Any], Any] | None = None) -> None:
        self.name = name
        self.on_ask = on_ask
        self.told: list[Any] = []
        self.asked: list[Any] = []

    def tell(self, msg: Any) -> None:
        self.told.append(msg)

    async def tell_or_send(self, msg: Any, timeout: float | None = None) -> bool:
        await trio.lowlevel.checkpoint()
        self.told.append(msg)
        return True

    async def ask(self, msg: Any, timeout: float = 5.0) -> Any:
        self.asked.append(msg)
        await trio.lowlevel.checkpoint()
        assert self.on_ask is not None, f"{self.name} was asked {msg!r}"
        answer = self.on_ask(msg)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def of(self, kind: type) -> list[Any]:
        """Everything told of type `kind`, in order."""
        return [m for m in self.told if isinstance(m, kind)]

    def of_asked(self, kind: type) -> list[Any]:
        """Everything asked of type `kind`, in order."""
        return [m for m in self.asked if isinstance(m, kind)]


class FakeProvider(FakeRef):
    """Feeds each dispatched request's stream `script` (see the module docstring)."""

    def __init__(self, provider_id: str, script: list[Any]) -> None:
        super().__init__(provider_id, self._dispatch)
        self.script = script
        self.streams: list[trio.MemorySendChannel[Item]] = []

    def _dispatch(self, msg: Any) -> Any:
        assert isinstance(msg, Dispatch)
        self.streams.append(msg.stream)
        for item in self.script:
            if item is CLOSE:
                msg.stream.close()
                break
            msg.stream.send_nowait(item)
        return None

    @property
    def cancels(self) -> list[Cancel]:
        return self.of(Cancel)


class FakeScheduler(FakeRef):
    """Reserves slots on `providers`, in order (see the module docstring)."""

    def __init__(
        self,
        *providers: FakeProvider,
        refusal: NoCapacityReason | None = None,
        profile: ModelProfile | None = None,
        context_length: int | None = None,
    ) -> None:
        super().__init__("scheduler", self._reserve)
        self.providers = providers
        self.refusal = refusal
        self.profile = profile or ModelProfile(len(providers), None, False, {})
        self.context_length = context_length  # of every granted slot
        self.granted = 0

    def _reserve(self, msg: Any) -> Any:
        if isinstance(msg, ModelProfileQuery):
            return self.profile
        assert isinstance(msg, Reserve)
        for provider in self.providers:
            if provider.name not in msg.exclude and self.refusal is None:
                self.granted += 1
                return Reservation(
                    f"res-{self.granted}", provider.name, provider, msg.model, self.context_length
                )
        return NoCapacity(self.refusal or NoCapacityReason.EXCLUDED, retry_after_s=1.0)

    @property
    def releases(self) -> list[Release]:
        return self.of(Release)


class FakeBilling(FakeRef):
    """Grants holds at `price` (or answers with `refusal`); records settlements."""

    def __init__(self, price: Price = FREE, refusal: BaseException | None = None) -> None:
        super().__init__("billing", self._hold)
        self.price = price
        self.refusal = refusal

    def _hold(self, msg: Any) -> Any:
        assert isinstance(msg, Hold)
        if self.refusal is not None:
            return self.refusal
        amount = hold_amount(self.price, msg.prompt_tokens, msg.max_tokens)
        return HoldGranted(msg.request_id, amount, self.price)

    @property
    def settles(self) -> list[Settle]:
        return self.of(Settle)


@dataclass
class FakeServices:
    """What a `ConsumerRequest` uses of the coordinator (see the module docstring)."""

    scheduler: FakeScheduler
    billing: FakeBilling = field(default_factory=FakeBilling)
    gate: RequestGate = field(default_factory=RequestGate)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None, None))
    keys: ApiKeyCache = field(default_factory=lambda: ApiKeyCache(MemoryStore()))


def api_key() -> ApiKeyRecord:
    now = datetime.now(UTC)
    return ApiKeyRecord("key_1", "acct_1", "test", "sk-sy-test", now, None, None)


def job(
    text: str = "hello",
    max_tokens: int | None = 16,
    stop: list[str] | None = None,
    n: int = 1,
    needs: frozenset[Capability] = frozenset(),
    settings: Settings | None = None,
) -> Job:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": text}], "n": n}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stop:
        body["stop"] = stop
    return new_job("m", body, settings or Settings(), Trust.SELF_SIGNED, needs=needs)


def chunk(*texts: str) -> StreamChunk:
    """A stream chunk carrying one content delta per text."""
    return StreamChunk([{"content": t} for t in texts], tokens=sum(1 for t in texts if t))


def done(prompt: int | None = 5, completion: int | None = None, reason: str = "stop") -> StreamEnd:
    return StreamEnd(finish_reason=reason, prompt_tokens=prompt, completion_tokens=completion)
