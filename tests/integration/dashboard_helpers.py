"""Helpers for the dashboard tests: a form-posting httpx client that reads the CSRF token
out of each page, and a browser sign-up."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from .browser import Browser
from .harness import Running
from .selfservice_helpers import PASSWORD, invite

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a dashboard page's forms carry."""
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class DashboardClient:
    """An httpx client that fetches a page, then posts its form with the page's token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client
        self.token = ""

    async def get(self, path: str) -> httpx.Response:
        reply = await self.http.get(path)
        if reply.headers.get("content-type", "").startswith("text/html"):
            found = CSRF_FIELD.search(reply.text)
            self.token = found.group(1) if found else self.token
        return reply

    async def post(self, path: str, data: dict[str, str], csrf: bool = True) -> httpx.Response:
        body = {"csrf_token": self.token, **data} if csrf else data
        return await self.http.post(path, data=body)


@asynccontextmanager
async def dashboard_client(running: Running) -> AsyncIterator[DashboardClient]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        yield DashboardClient(http)


async def sign_up_form(
    client: DashboardClient, running: Running, login: str, password: str = PASSWORD
) -> httpx.Response:
    """Sign up through the dashboard form with a fresh invite code; on success, load the
    page it lands on (so the client holds the session's CSRF token). The form's reply."""
    code = await invite(running)
    await client.get("/dashboard/signup")
    reply = await client.post(
        "/dashboard/signup", {"invite_code": code, "login": login, "password": password}
    )
    if reply.status_code == 303:
        await client.get(reply.headers["location"])
    return reply


async def sign_up_in_browser(
    browser: Browser, running: Running, login: str, password: str = PASSWORD
) -> None:
    """Sign up through the dashboard in Chromium (lands on the keys page)."""
    code = await invite(running)
    await browser.get(f"{running.base_url}/dashboard/signup")
    await browser.fill("invite_code", code)
    await browser.fill("login", login)
    await browser.fill("password", password)
    await browser.screenshot("signup")
    await browser.submit()
