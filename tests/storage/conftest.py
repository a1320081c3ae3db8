"""Fixtures for the storage suite: `store` runs each test once per implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchyard.storage import Store, open_store

from .helpers import StoreTarget


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest) -> StoreTarget:
    """One target per store implementation; Postgres gets its own schema."""
    if request.param == "memory":
        return StoreTarget(None, None)
    return StoreTarget(request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema"))


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    """An open store of each kind, closed after the test."""
    async with open_store(store_target.url, schema=store_target.schema) as opened:
        yield opened
