"""open_store(): choosing the implementation, and refusing bad URLs with typed errors."""

from __future__ import annotations

import inspect
import logging

import pytest

from switchyard.storage import (
    InvalidInput,
    MemoryStore,
    PostgresStore,
    Store,
    StoreUnavailable,
    open_store,
)


@pytest.mark.parametrize("url", [None, "", "memory://"])
async def test_memory_store_by_default_with_a_warning(
    url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="switchyard.storage"):
        async with open_store(url) as store:
            assert isinstance(store, MemoryStore) and isinstance(store, Store)
            assert store.kind == "memory"
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


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize("implementation", [MemoryStore, PostgresStore])
def test_implementations_match_the_protocol_signatures(implementation: type) -> None:
    """Every Store method exists on both stores with the same parameters and defaults,
    and is a coroutine function (awaitable from trio)."""
    expected = _public_methods(Store)
    actual = _public_methods(implementation)
    assert expected, "the protocol declares methods"
    for name, signature in expected.items():
        assert name in actual, f"{implementation.__name__} lacks {name}"
        assert list(actual[name].parameters.values()) == list(signature.parameters.values()), name
        assert inspect.iscoroutinefunction(getattr(implementation, name)), name
    assert isinstance(implementation.kind, property)
