"""Attempt throttling by the client behind a proxy, over real sockets: with the proxy
(here 127.0.0.1, the test's own socket) trusted, clients named by `X-Forwarded-For` have
separate budgets and IPv6 clients share one per /64; untrusted (the default), the header
is ignored and every request counts against the socket's address."""

from __future__ import annotations

import httpx

from switchyard.protocol.limits import AUTH_ATTEMPTS_PER_ADDRESS

from .selfservice_helpers import PASSWORD, self_service

CLIENT_A = "203.0.113.5"
CLIENT_B = "198.51.100.9"


async def _login(client: httpx.AsyncClient, forwarded_for: str, i: int) -> httpx.Response:
    """A failed login (unknown name) from `forwarded_for`, behind an entry it forged."""
    return await client.post(
        "/v1/account/login",
        json={"login": f"nobody{i}", "password": PASSWORD},
        headers={"X-Forwarded-For": f"6.6.6.6, {forwarded_for}"},
    )


async def _device_code(client: httpx.AsyncClient, forwarded_for: str) -> int:
    reply = await client.post(
        "/v1/device/code", json={"name": "rig"}, headers={"X-Forwarded-For": forwarded_for}
    )
    return reply.status_code


async def test_clients_behind_a_trusted_proxy_have_their_own_budgets() -> None:
    async with self_service(trusted_proxies=("127.0.0.1",)) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as proxy:
            codes = [
                (await _login(proxy, CLIENT_A, i)).status_code
                for i in range(AUTH_ATTEMPTS_PER_ADDRESS + 1)
            ]
            assert codes == [401] * AUTH_ATTEMPTS_PER_ADDRESS + [429]
            other = await _login(proxy, CLIENT_B, AUTH_ATTEMPTS_PER_ADDRESS + 1)
            assert other.status_code == 401, other.text
            assert other.json()["error"]["code"] == "invalid_credentials"
            # The forged left entry is not the client: A stays throttled whatever it sends.
            again = await proxy.post(
                "/v1/account/login",
                json={"login": "nobody", "password": PASSWORD},
                headers={"X-Forwarded-For": f"{CLIENT_B}, {CLIENT_A}"},
            )
            assert again.status_code == 429


async def test_ipv6_clients_behind_a_trusted_proxy_count_per_64() -> None:
    async with self_service(trusted_proxies=("127.0.0.0/8", "::1")) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as proxy:
            # One host rotating through addresses of its /64 spends one budget.
            statuses = [
                await _device_code(proxy, f"2001:db8:1:2::{i:x}")
                for i in range(1, AUTH_ATTEMPTS_PER_ADDRESS + 2)
            ]
            assert statuses == [200] * AUTH_ATTEMPTS_PER_ADDRESS + [429]
            assert await _device_code(proxy, "2001:db8:1:2:ffff::1") == 429
            assert await _device_code(proxy, "2001:db8:1:3::1") == 200  # the next /64
            assert await _device_code(proxy, "::ffff:203.0.113.5") == 200  # IPv4-mapped


async def test_without_trusted_proxies_the_header_is_ignored() -> None:
    async with self_service() as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as client:
            codes = [
                (await _login(client, CLIENT_A, i)).status_code
                for i in range(AUTH_ATTEMPTS_PER_ADDRESS + 1)
            ]
            assert codes == [401] * AUTH_ATTEMPTS_PER_ADDRESS + [429]
            # Claiming another address changes nothing: the socket's address is spent.
            other = await _login(client, CLIENT_B, AUTH_ATTEMPTS_PER_ADDRESS + 1)
            assert other.status_code == 429
            assert await _device_code(client, "2001:db8:9::1") == 429
