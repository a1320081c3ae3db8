"""Helpers shared by the storage tests."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import trio_asyncio

from switchyard.storage import Account, LedgerSum, Store


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: memory (url None) or a fresh Postgres schema."""

    url: str | None
    schema: str | None


async def funded(store: Store, name: str, micro_usd: int) -> Account:
    """A new account topped up with `micro_usd`."""
    account = await store.create_account(name)
    if micro_usd:
        await store.credit(account.id, micro_usd, "topup", "test funding")
    fresh = await store.get_account(account.id)
    assert fresh is not None
    return fresh


async def balance(store: Store, account_id: str) -> tuple[int, int]:
    """(balance, earnings) of an account."""
    account = await store.get_account(account_id)
    assert account is not None
    return account.balance_micro_usd, account.earnings_micro_usd


async def assert_balanced(store: Store) -> None:
    """Every account's balances equal its ledger sums, and none is negative."""
    assert await store.ledger_mismatches() == []
    for account in await store.list_accounts():
        assert account.balance_micro_usd >= 0 and account.earnings_micro_usd >= 0
        total = await store.ledger_sum(account.id)
        assert total == LedgerSum(account.balance_micro_usd, account.earnings_micro_usd)


async def pg_fetch(url: str, schema: str, sql: str) -> list[asyncpg.Record]:
    """Run one query on its own connection (search_path = schema), from trio."""
    async with trio_asyncio.open_loop() as loop:

        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(url, server_settings={"search_path": schema})
            try:
                return await conn.fetch(sql)
            finally:
                await conn.close()

        return await trio_asyncio.aio_as_trio(run, loop=loop)()
