"""open_store(): choosing the implementation, and refusing bad URLs with typed errors."""

from __future__ import annotations

import logging

import pytest

from switchyard.storage import InvalidInput, MemoryStore, StoreUnavailable, open_store


@pytest.mark.parametrize("url", [None, "", "memory://"])
async def test_memory_store_by_default_with_a_warning(
    url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="switchyard.storage"):
        async with open_store(url) as store:
            assert isinstance(store, MemoryStore) and store.kind == "memory"
            await store.ping()
    assert any("lost when the process exits" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1/db", "sqlite:///x.db", "127.0.0.1"])
async def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        async with open_store(url):
            pytest.fail("store opened for an unsupported URL")


async def test_unreachable_postgres_is_store_unavailable() -> None:
    # port 1 on loopback: nothing listens there, so the connection is refused at once
    with pytest.raises(StoreUnavailable):
        async with open_store("postgresql://postgres@127.0.0.1:1/test"):
            pytest.fail("store opened without a server")


async def test_bad_schema_name_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        async with open_store("postgresql://postgres@127.0.0.1:1/test", schema="x; DROP"):
            pytest.fail("store opened with a bad schema name")
