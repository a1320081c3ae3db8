"""Helpers for the self-service tests: a coordinator whose cookies work over plain HTTP,
invite codes, and signed-in httpx clients (session cookie + CSRF header)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx

from switchyard.settings import Settings
from switchyard.storage import open_store

from .harness import Running, coordinator, fast_settings

PASSWORD = "correct horse battery staple"


def plain_http_settings(**overrides: Any) -> Settings:
    """Test settings with `cookie_secure` off: httpx sends no Secure cookie over http://."""
    return replace(fast_settings(), cookie_secure=False, **overrides)


@asynccontextmanager
async def self_service(
    target: tuple[str | None, str | None] = (None, None), **overrides: Any
) -> AsyncIterator[Running]:
    """A running coordinator on the target store (memory or a Postgres schema)."""
    url, schema = target
    async with open_store(url, schema=schema) as store:
        async with coordinator(plain_http_settings(**overrides), store) as running:
            yield running


async def invite(running: Running, uses: int = 1, expires_in_s: int = 3600) -> str:
    """A fresh raw invite code, made through the admin API."""
    body = {"max_uses": uses, "expires_in_s": expires_in_s}
    reply = await running.admin.post("/admin/invite-codes", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["code"])


@asynccontextmanager
async def signed_up(
    running: Running, login: str, password: str = PASSWORD
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """(client carrying the session cookie and CSRF header, the sign-up reply)."""
    code = await invite(running)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
        reply = await client.post(
            "/v1/signup", json={"invite_code": code, "login": login, "password": password}
        )
        assert reply.status_code == 201, reply.text
        body = reply.json()
        client.headers["X-CSRF-Token"] = body["csrf_token"]
        yield client, body
