"""BillingActor: holds before dispatch, settlement (with its usage row) after.

Every money movement is one atomic store call (the store checks the balance in the same
statement that debits it), so the actor need not queue them one by one: it prices the
request (prices and provider owners are cached in its state), then runs the store call
in a helper task and answers the ask when it returns. Each request's usage row rides in
the transaction that settles or releases its hold, so a crash (even SIGKILL) keeps both
or neither; that costs no extra commit, since settlement is a transaction per request
anyway. The row is checked before it is sent, so it can never fail its settlement.

Settlement policy: only output the consumer received is charged. The coordinator counts
relayed tokens (non-empty content deltas). A provider's usage report is charged, but at
most `relayed + relayed * tolerance_percent / 100 + tolerance_tokens`; a report outside
that band either way is logged and counted as a mismatch. A stream that died after its
first token without a report is charged for the tokens actually relayed (plus the
estimated prompt); a request that relayed nothing is released. The provider owner earns
the charge minus the platform fee. Holds left open by a crash are released by
`recover_open_holds` before the coordinator serves traffic; in a cluster each hold
carries its replica's id, and another replica's holds are left to
`cluster/hold_recovery.py` (released only once that replica is gone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import trio

from ..billing.pricing import FREE, Price, cost, fee_bps, hold_amount, provider_earning
from ..metrics import HOLDS, SETTLEMENTS, USAGE_MISMATCH
from ..protocol.vocabulary import Outcome
from ..runtime import Actor, Reply
from ..storage.errors import InsufficientFunds, InvalidInput, StoreError
from ..storage.models import UsageRecord
from ..storage.protocol import Store
from ..storage.validate import MAX_OUTCOME_LEN, MAX_TOKENS, usage_record
from .billing_messages import (
    BillingIdle,
    BillingStats,
    BillingUnavailable,
    Hold,
    HoldGranted,
    InsufficientCredit,
    PriceChanged,
    Settle,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillingConfig:
    """Billing knobs; the tolerances bound what a usage report may claim beyond relayed."""

    platform_fee: float = 0.10
    price_ttl_s: float = 5.0
    tolerance_tokens: int = 16
    tolerance_percent: int = 10
    store_attempts: int = 3
    replica_id: str | None = None  # stamped on every hold (None: no cluster)


class BillingActor(Actor):
    """See the module docstring."""

    def __init__(self, store: Store, config: BillingConfig | None = None) -> None:
        self.store = store
        self.config = config or BillingConfig()
        self.fee_bps = fee_bps(self.config.platform_fee)
        self.prices: dict[str, tuple[Price, float]] = {}
        self.owners: dict[str, str] = {}
        self.pending = 0  # store calls in flight in helper tasks
        self.idle_waiters: list[Reply] = []
        self.counters = dict.fromkeys(
            ("held", "refused", "settled", "released", "failed", "mismatches"), 0
        )

    def describe(self) -> dict[str, Any]:
        return {**self.counters, "fee_bps": self.fee_bps}

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Hold():
                price = await self._price(msg.model)
                amount = hold_amount(price, msg.prompt_tokens, msg.max_tokens)
                self._spawn(self._hold, msg, price, amount, self.defer())
            case Settle():
                settle_price: Price | None
                try:
                    settle_price = await self._price(msg.model)
                except BillingUnavailable:
                    settle_price = None  # the task leaves the hold open for recovery
                owner = await self._owner(msg.provider_id)
                self._spawn(self._settle, msg, settle_price, owner)
            case PriceChanged():
                if msg.model is None:
                    self.prices.clear()
                else:
                    self.prices.pop(msg.model, None)
            case BillingStats():
                return self.describe()
            case BillingIdle():
                if self.pending:
                    self.idle_waiters.append(self.defer())
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
                    waiters, self.idle_waiters = self.idle_waiters, []
                    for reply in waiters:
                        reply.set(None)

        self.start_task(counted)

    # -- holds -------------------------------------------------------------------------

    async def _hold(self, msg: Hold, price: Price, amount: int, reply: Reply) -> None:
        try:
            await self.store.create_hold(
                msg.account_id, msg.request_id, amount, replica_id=self.config.replica_id
            )
        except InsufficientFunds:
            self.counters["refused"] += 1
            HOLDS.labels("refused").inc()
            reply.fail(InsufficientCredit(f"the balance does not cover {amount} micro-USD"))
            return
        except StoreError as exc:
            HOLDS.labels("failed").inc()
            log.warning("request %s: could not place a hold: %r", msg.request_id, exc)
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
            outcome=Outcome.CANCELLED, ttft_ms=None, duration_ms=0,
        )  # fmt: skip
        self.ref.tell(release)

    # -- settlement --------------------------------------------------------------------

    def charge_for(self, msg: Settle, price: Price) -> tuple[int, int, int]:
        """(prompt tokens, completion tokens, cost) to charge, before clamping to the hold."""
        relayed = msg.relayed_tokens
        completion, prompt = relayed, msg.prompt_tokens_est
        reported = msg.reported_completion_tokens
        if reported is not None:
            allowed = relayed * self.config.tolerance_percent // 100 + self.config.tolerance_tokens
            if abs(reported - relayed) > allowed:
                self.counters["mismatches"] += 1
                USAGE_MISMATCH.inc()
                log.warning(
                    "request %s: provider %s reported %d completion tokens, relayed %d",
                    msg.request_id, msg.provider_id, reported, relayed,
                )  # fmt: skip
            completion = min(reported, relayed + allowed)  # never more than was received
            prompt = msg.reported_prompt_tokens or msg.prompt_tokens_est
        return prompt, completion, cost(price, prompt, completion)

    async def _settle(self, msg: Settle, price: Price | None, owner: str | None) -> None:
        """Runs as a helper task; it touches actor state only between awaits (counters)."""
        nothing_used = msg.relayed_tokens == 0 and msg.reported_completion_tokens is None
        prompt, completion, charge = (msg.prompt_tokens_est, 0, 0)
        if not nothing_used and price is not None:
            prompt, completion, charge = self.charge_for(msg, price)
        usage = usage_row(msg, prompt, completion)
        attempts = self.config.store_attempts if nothing_used or price is not None else 0
        result: str | None = None
        for attempt in range(attempts):
            try:
                if nothing_used:
                    await self.store.release_hold(msg.request_id, usage)
                    result = "released"
                else:
                    hold = await self.store.get_hold(msg.request_id)
                    if hold is None:
                        log.error("request %s: no hold to settle", msg.request_id)
                        result = "failed"
                        break
                    charge = min(charge, hold.amount_micro_usd)
                    earning = provider_earning(charge, self.fee_bps) if owner else 0
                    await self.store.settle_hold(msg.request_id, charge, owner, earning, usage)
                    result = "settled"
                break
            except StoreError as exc:
                log.warning("request %s: settlement attempt %d failed: %s", msg.request_id,
                            attempt + 1, exc)  # fmt: skip
                await trio.sleep(0.05 * 2**attempt)
        if result is None:
            result = "failed"
            log.error("request %s: hold left open (released at next start)", msg.request_id)
        self.counters[result] += 1
        SETTLEMENTS.labels(result).inc()

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


def usage_row(msg: Settle, prompt: int, completion: int) -> UsageRecord | None:
    """The request's usage row, every number within what the store holds; None (logged)
    if it still cannot be stored, so that a bad row never blocks its settlement."""
    row = UsageRecord(
        request_id=msg.request_id, account_id=msg.account_id, api_key_id=msg.api_key_id,
        provider_id=msg.provider_id, model=msg.model,
        prompt_tokens=min(prompt, MAX_TOKENS), completion_tokens=min(completion, MAX_TOKENS),
        cost_micro_usd=0,  # the store records what the settlement actually charged
        ttft_ms=msg.ttft_ms, duration_ms=msg.duration_ms,
        outcome=msg.outcome[:MAX_OUTCOME_LEN],
    )  # fmt: skip
    try:
        return usage_record(row)
    except InvalidInput as exc:
        log.error("request %s: usage row not recordable (%s): %r", msg.request_id, exc, row)
        return None


async def recover_open_holds(store: Store, replica_id: str | None = None) -> int:
    """Release every hold left open by a previous run; call before serving traffic.

    In a cluster (`replica_id` set) only this replica's own holds are released (those of
    a previous run under the same id; other replicas' holds are theirs, or recovered
    once they are gone: `cluster/hold_recovery.py`)."""
    holds = [
        hold
        for hold in await store.list_open_holds()
        if replica_id is None or hold.replica_id == replica_id
    ]
    for hold in holds:
        await store.release_hold(hold.request_id)
    if holds:
        log.warning("released %d holds left open by a previous run", len(holds))
    return len(holds)
