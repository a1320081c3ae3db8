"""Fixtures for cluster tests (`nats_url` and `cluster_name` live in tests/conftest.py).

- `transport`: an open `Transport` on a fresh cluster name (closed after the test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchyard.cluster.transport import Transport
from switchyard.cluster.transport_open import open_transport


@pytest.fixture
async def transport(nats_url: str, cluster_name: str) -> AsyncIterator[Transport]:
    async with open_transport(nats_url, cluster=cluster_name, name="test") as opened:
        yield opened
