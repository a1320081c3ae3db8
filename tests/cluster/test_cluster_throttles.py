"""Self-service throttles across replicas (two in-process coordinators on one NATS and one
Postgres, real HTTP): wrong passphrases alternating between A and B get exactly 5 401s
and then 429 on either; the per-address budget and an account's wrong device codes are
counted once across both too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from switchyard.protocol.limits import (
    AUTH_ATTEMPTS_PER_ADDRESS,
    DEVICE_APPROVAL_FAILURES,
    LOGIN_FAILURES_PER_NAME,
)
from tests.integration.harness import Running
from tests.integration.selfservice_helpers import PASSWORD, signed_up

from .inproc import two_replicas

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def _clients(*replicas: Running) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=replicas[0].base_url, timeout=30) as first,
        httpx.AsyncClient(base_url=replicas[1].base_url, timeout=30) as second,
    ):
        yield [first, second]


async def test_failed_logins_and_address_attempts_count_across_replicas(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with two_replicas(nats_url, cluster_name, pg_url, pg_schema, cookie_secure=False) as (
        a,
        b,
    ):
        async with signed_up(a, "victim"):  # one attempt from 127.0.0.1
            pass
        used = 1
        async with _clients(a, b) as clients:
            wrong = {"login": "victim", "password": "wrong passphrase!"}
            statuses = []
            for i in range(LOGIN_FAILURES_PER_NAME + 2):  # A, B, A, B, ...
                reply = await clients[i % 2].post("/v1/account/login", json=wrong)
                statuses.append(reply.status_code)
                if reply.status_code == 429:
                    assert int(reply.headers["Retry-After"]) > 0
                    assert reply.json()["error"]["type"] == "rate_limit_error"
            assert statuses == [401] * LOGIN_FAILURES_PER_NAME + [429, 429]
            used += LOGIN_FAILURES_PER_NAME  # a locked name's attempts are not counted
            # the right passphrase waits too, on either replica
            right = {"login": "victim", "password": PASSWORD}
            for client in clients:
                assert (await client.post("/v1/account/login", json=right)).status_code == 429

            # the address's budget is shared as well: unknown names, alternating
            left = AUTH_ATTEMPTS_PER_ADDRESS - used
            codes = []
            for i in range(left + 2):
                body = {"login": f"nobody{i}", "password": PASSWORD}
                codes.append(
                    (await clients[i % 2].post("/v1/account/login", json=body)).status_code
                )
            assert codes == [401] * left + [429, 429]

        for running in (a, b):
            assert running.coord.state is not None
            stats = running.coord.state.throttles.stats
            assert stats.fallbacks == 0 and stats.contended == 0
        metrics = (await a.admin.get("/metrics")).text
        assert 'switchyard_throttle_shared_decisions_total{result="refused"}' in metrics
        assert 'switchyard_throttle_shared_decisions_total{result="fallback"} 0.0' in metrics


async def test_wrong_device_codes_count_across_replicas(
    nats_url: str, cluster_name: str, pg_url: str, pg_schema: str
) -> None:
    async with (
        two_replicas(nats_url, cluster_name, pg_url, pg_schema, cookie_secure=False) as (a, b),
        signed_up(a, "owner") as (on_a, _),
        httpx.AsyncClient(
            base_url=b.base_url, cookies=on_a.cookies, headers=on_a.headers, timeout=30
        ) as on_b,
    ):
        assert (await on_b.get("/v1/account/session")).status_code == 200  # same session
        owner = [on_a, on_b]
        statuses = []
        for i in range(DEVICE_APPROVAL_FAILURES + 2):
            guess = await owner[i % 2].post("/v1/device/approve", json={"user_code": "ZZZZ-ZZZZ"})
            statuses.append(guess.status_code)
        assert statuses == [404] * DEVICE_APPROVAL_FAILURES + [429, 429]
