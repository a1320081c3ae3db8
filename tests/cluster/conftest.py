"""Fixtures for cluster tests: a reachable NATS and a unique cluster name per test.

- `nats_url` (session): SWITCHYARD_TEST_NATS_URL, default nats://127.0.0.1:4222. When the
  server cannot be reached the test is skipped with the reason, except under CI=true,
  where it fails (like the Postgres fixture).
- `cluster_name`: a fresh cluster name, so concurrent runs on one server never meet.
- `transport`: an open `Transport` on that cluster (closed after the test).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from switchyard.cluster.transport import Transport, open_transport

DEFAULT_TEST_NATS_URL = "nats://127.0.0.1:4222"


def nats_reachable(url: str) -> str | None:
    """None if a NATS server answers at `url` with its INFO line, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 3) as s:
            s.settimeout(3)
            first = s.recv(5)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if first.startswith(b"INFO") else f"unexpected greeting {first!r}"


@pytest.fixture(scope="session")
def nats_url() -> str:
    """URL of a reachable NATS (skip, or fail under CI=true, when unreachable)."""
    url = os.environ.get("SWITCHYARD_TEST_NATS_URL", DEFAULT_TEST_NATS_URL)
    problem = nats_reachable(url)
    if problem is not None:
        reason = f"NATS unreachable at {url} ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; NATS tests must run when CI=true")
        pytest.skip(f"{reason}; set SWITCHYARD_TEST_NATS_URL to run NATS tests")
    return url


@pytest.fixture
def cluster_name() -> str:
    return f"t{secrets.token_hex(6)}"


@pytest.fixture
async def transport(nats_url: str, cluster_name: str) -> AsyncIterator[Transport]:
    async with open_transport(nats_url, cluster=cluster_name, name="test") as opened:
        yield opened
