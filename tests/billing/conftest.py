"""Fixtures of the billing tests: `store_target` runs a test on both stores."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    """(database URL, schema) for `open_store`; (None, None) is the memory store.

    Resolved synchronously, before the trio test starts (the Postgres fixtures use asyncio).
    """
    if request.param == "memory":
        return None, None
    return request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")
