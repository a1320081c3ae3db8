"""BillingActor: holds before dispatch, settlement after, usage written in batches.

Every money movement is one atomic store call (the store checks the balance in the same
statement that debits it), so the actor need not queue them one by one: it prices the
request (prices and provider owners are cached in its state), then runs the store call
in a helper task and answers the ask when it returns. What it does serialise is its own
state: the price cache, counters, and the buffer of usage rows it group-commits every
`flush_interval_s` or `flush_rows` rows.

Settlement policy: the provider's usage report is charged, clamped to the hold; a report
that disagrees with the relayed token count beyond `tolerance` is logged and counted. A
stream that died after its first token without a report is charged for the tokens
actually relayed (plus the estimated prompt); a request that relayed nothing is released.
The provider owner earns the charge minus the platform fee. Holds left open by a crash
are released by `recover_open_holds` before the coordinator serves traffic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import trio

from ..billing.pricing import FREE, Price, cost, fee_bps, hold_amount, provider_earning
from ..metrics import HOLDS, SETTLEMENTS, USAGE_MISMATCH
from ..runtime import Actor, Reply
from ..storage.errors import InsufficientFunds, StoreError
from ..storage.models import UsageRecord
from ..storage.protocol import Store
from .billing_messages import (
    BillingIdle,
    BillingStats,
    BillingUnavailable,
    FlushUsage,
    Hold,
    HoldGranted,
    InsufficientCredit,
    Settle,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillingConfig:
    platform_fee: float = 0.10
    price_ttl_s: float = 5.0
    flush_interval_s: float = 0.2
    flush_rows: int = 500
    tolerance_tokens: int = 2
    tolerance_fraction: float = 0.10
    store_attempts: int = 3


class BillingActor(Actor):
    """See the module docstring."""

    def __init__(self, store: Store, config: BillingConfig | None = None) -> None:
        self.store = store
        self.config = config or BillingConfig()
        self.fee_bps = fee_bps(self.config.platform_fee)
        self.prices: dict[str, tuple[Price, float]] = {}
        self.owners: dict[str, str] = {}
        self.usage: list[UsageRecord] = []
        self.pending = 0  # store calls in flight in helper tasks
        self.idle_waiters: list[Reply] = []
        self.flush_armed = False
        self.counters = dict.fromkeys(
            ("held", "refused", "settled", "released", "failed", "mismatches"), 0
        )

    async def on_stop(self) -> None:
        if self.usage:
            await self._write_usage(self.usage)
            self.usage = []

    def describe(self) -> dict[str, Any]:
        return {**self.counters, "usage_buffered": len(self.usage), "fee_bps": self.fee_bps}

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Hold():
                price = await self._price(msg.model)
                amount = hold_amount(price, msg.prompt_tokens, msg.max_tokens)
                self._spawn(self._hold, msg, price, amount, self.defer())
            case Settle():
                try:
                    price: Price | None = await self._price(msg.model)
                except BillingUnavailable:
                    price = None  # the task leaves the hold open for recovery
                owner = await self._owner(msg.provider_id)
                self._spawn(self._settle, msg, price, owner)
            case FlushUsage():
                self.flush_armed = False
                self._flush()
            case BillingStats():
                return self.describe()
            case BillingIdle():
                if self.pending:
                    self.idle_waiters.append(self.defer())
                else:
                    self._flush()
            case _:
                return await super().handle(msg)
        return None

    def _spawn(self, fn: Any, *args: Any) -> None:
        """Run a store call in a helper task, counted so shutdown can wait for it."""
        self.pending += 1

        async def counted() -> None:
            try:
                await fn(*args)
            finally:
                self.pending -= 1
                if self.pending == 0:
                    self._flush()
                    waiters, self.idle_waiters = self.idle_waiters, []
                    for reply in waiters:
                        reply.set(None)

        self.start_task(counted)

    # -- holds -------------------------------------------------------------------------

    async def _hold(self, msg: Hold, price: Price, amount: int, reply: Reply) -> None:
        try:
            await self.store.create_hold(msg.account_id, msg.request_id, amount)
        except InsufficientFunds:
            self.counters["refused"] += 1
            HOLDS.labels("refused").inc()
            reply.fail(InsufficientCredit(f"the balance does not cover {amount} micro-USD"))
            return
        except StoreError as exc:
            HOLDS.labels("failed").inc()
            reply.fail(BillingUnavailable(f"could not place a hold: {exc}"))
            return
        except BaseException:
            reply.fail(BillingUnavailable("billing stopped"))
            raise
        self.counters["held"] += 1
        HOLDS.labels("held").inc()
        granted = HoldGranted(msg.request_id, amount, price)
        reply.set(granted, on_lost=lambda g: self._abandoned_hold(msg))

    def _abandoned_hold(self, msg: Hold) -> None:
        """The asker left before the hold was granted: give the money straight back."""
        release = Settle(
            request_id=msg.request_id, account_id=msg.account_id, api_key_id=None,
            model=msg.model, provider_id=None, prompt_tokens_est=msg.prompt_tokens,
            relayed_tokens=0, reported_prompt_tokens=None, reported_completion_tokens=None,
            outcome="cancelled", ttft_ms=None, duration_ms=0,
        )  # fmt: skip
        self.ref.tell(release)

    # -- settlement --------------------------------------------------------------------

    def charge_for(self, msg: Settle, price: Price) -> tuple[int, int, int]:
        """(prompt tokens, completion tokens, cost) to charge, before clamping to the hold."""
        if msg.reported_completion_tokens is not None:
            completion = msg.reported_completion_tokens
            relayed = msg.relayed_tokens
            allowed = max(self.config.tolerance_tokens, relayed * self.config.tolerance_fraction)
            if abs(completion - relayed) > allowed:
                self.counters["mismatches"] += 1
                USAGE_MISMATCH.inc()
                log.warning(
                    "request %s: provider %s reported %d completion tokens, relayed %d",
                    msg.request_id, msg.provider_id, completion, relayed,
                )  # fmt: skip
            prompt = msg.reported_prompt_tokens or msg.prompt_tokens_est
        else:
            completion = msg.relayed_tokens
            prompt = msg.prompt_tokens_est
        return prompt, completion, cost(price, prompt, completion)

    async def _settle(self, msg: Settle, price: Price | None, owner: str | None) -> None:
        """Runs as a helper task; it touches actor state only between awaits (counters)."""
        nothing_used = msg.relayed_tokens == 0 and msg.reported_completion_tokens is None
        prompt, completion, charge = (msg.prompt_tokens_est, 0, 0)
        if not nothing_used and price is not None:
            prompt, completion, charge = self.charge_for(msg, price)
        attempts = self.config.store_attempts if nothing_used or price is not None else 0
        for attempt in range(attempts):
            try:
                if nothing_used:
                    await self.store.release_hold(msg.request_id)
                    result = "released"
                else:
                    hold = await self.store.get_hold(msg.request_id)
                    if hold is None:
                        log.error("request %s: no hold to settle", msg.request_id)
                        result = "failed"
                        break
                    charge = min(charge, hold.amount_micro_usd)
                    earning = provider_earning(charge, self.fee_bps) if owner else 0
                    await self.store.settle_hold(msg.request_id, charge, owner, earning)
                    result = "settled"
                break
            except StoreError as exc:
                log.warning("request %s: settlement attempt %d failed: %s", msg.request_id,
                            attempt + 1, exc)  # fmt: skip
                await trio.sleep(0.05 * 2**attempt)
        else:
            result = "failed"
            log.error("request %s: hold left open (released at next start)", msg.request_id)
        self.counters[result] += 1
        SETTLEMENTS.labels(result).inc()
        self._buffer(msg, prompt, completion, charge)

    # -- usage batching ----------------------------------------------------------------

    def _buffer(self, msg: Settle, prompt: int, completion: int, charge: int) -> None:
        self.usage.append(
            UsageRecord(
                request_id=msg.request_id, account_id=msg.account_id,
                api_key_id=msg.api_key_id, provider_id=msg.provider_id, model=msg.model,
                prompt_tokens=prompt, completion_tokens=completion, cost_micro_usd=charge,
                ttft_ms=msg.ttft_ms, duration_ms=msg.duration_ms, outcome=msg.outcome,
            )
        )  # fmt: skip
        if len(self.usage) >= self.config.flush_rows:
            self._flush()
        elif not self.flush_armed:
            self.flush_armed = True
            self.send_after(self.config.flush_interval_s, FlushUsage())

    def _flush(self) -> None:
        if self.usage:
            batch, self.usage = self.usage, []
            self.start_task(self._write_usage, batch)

    async def _write_usage(self, batch: list[UsageRecord]) -> None:
        try:
            await self.store.record_usage(batch)
        except StoreError as exc:
            log.error("lost %d usage rows: %s", len(batch), exc)

    # -- caches ------------------------------------------------------------------------

    async def _price(self, model: str) -> Price:
        now = trio.current_time()
        cached = self.prices.get(model)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            pricing = await self.store.get_pricing(model)
        except StoreError as exc:
            if cached is not None:
                return cached[0]
            raise BillingUnavailable(f"prices unavailable: {exc}") from None
        price = (
            Price(pricing.input_micro_usd_per_mtok, pricing.output_micro_usd_per_mtok)
            if pricing is not None
            else FREE
        )
        self.prices[model] = (price, now + self.config.price_ttl_s)
        return price

    async def _owner(self, provider_id: str | None) -> str | None:
        if provider_id is None:
            return None
        owner = self.owners.get(provider_id)
        if owner is None:
            try:
                record = await self.store.get_provider(provider_id)
            except StoreError:
                return None
            if record is not None:
                owner = self.owners[provider_id] = record.owner_account_id
        return owner


async def recover_open_holds(store: Store) -> int:
    """Release every hold left open by a previous run; call before serving traffic."""
    holds = await store.list_open_holds()
    for hold in holds:
        await store.release_hold(hold.request_id)
    if holds:
        log.warning("released %d holds left open by a previous run", len(holds))
    return len(holds)
