"""CORS on the consumer API: off by default, preflight and headers for configured origins.

Checked twice: header by header with httpx, and end to end by headless Chromium running a
page from another origin that calls the API with an `Authorization` header (which makes
the browser send a preflight first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import httpx
import trio

from switchyard.settings import Settings

from .browser import dump_dom
from .harness import coordinator, fast_settings, funded_key

APP_ORIGIN = "https://app.example"


def _settings(*origins: str) -> Settings:
    return replace(fast_settings(), cors_origins=origins)


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
    }


async def test_no_cors_headers_unless_configured() -> None:
    async with coordinator() as running:
        _, key = await funded_key(running)
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            pre = await client.options("/v1/chat/completions", headers=_preflight(APP_ORIGIN))
            assert "access-control-allow-origin" not in pre.headers
            headers = {"Origin": APP_ORIGIN, "Authorization": f"Bearer {key}"}
            r = await client.get("/v1/models", headers=headers)
            assert r.status_code == 200
            assert "access-control-allow-origin" not in r.headers


async def test_preflight_and_responses_carry_cors_headers_for_allowed_origins() -> None:
    async with coordinator(_settings(APP_ORIGIN, "https://other.example")) as running:
        _, key = await funded_key(running)
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            for path in ("/v1/chat/completions", "/v1/completions", "/v1/messages"):
                pre = await client.options(path, headers=_preflight(APP_ORIGIN))
                assert pre.status_code == 204, path
                assert pre.headers["access-control-allow-origin"] == APP_ORIGIN
                assert "POST" in pre.headers["access-control-allow-methods"]
                allowed = pre.headers["access-control-allow-headers"].lower()
                assert {"authorization", "content-type", "x-stainless-os"} <= {
                    h.strip() for h in allowed.split(",")
                }
                assert int(pre.headers["access-control-max-age"]) > 0
                assert "origin" in pre.headers["vary"].lower()
            pre = await client.options("/v1/models", headers=_preflight(APP_ORIGIN, "GET"))
            assert pre.status_code == 204
            # A real request (and an error) is readable by the page: origin echoed back.
            ok = await client.get(
                "/v1/models", headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {key}"}
            )
            assert ok.status_code == 200
            assert ok.headers["access-control-allow-origin"] == APP_ORIGIN
            assert "retry-after" in ok.headers["access-control-expose-headers"].lower()
            refused = await client.post(
                "/v1/chat/completions", json={}, headers={"Origin": APP_ORIGIN}
            )
            assert refused.status_code == 401
            assert refused.headers["access-control-allow-origin"] == APP_ORIGIN
            # Origins not listed, the provider socket and the admin API get nothing.
            evil = await client.options(
                "/v1/chat/completions", headers=_preflight("https://evil.example")
            )
            assert "access-control-allow-origin" not in evil.headers
            for path in ("/admin/accounts", "/v1/billing/webhook"):
                pre = await client.options(path, headers=_preflight(APP_ORIGIN))
                assert "access-control-allow-origin" not in pre.headers, path
            # Credentials are bearer tokens, never cookies.
            assert "access-control-allow-credentials" not in ok.headers


async def test_a_wildcard_allows_any_origin() -> None:
    async with coordinator(_settings("*")) as running:
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            pre = await client.options(
                "/v1/messages", headers=_preflight("https://anywhere.example")
            )
            assert pre.status_code == 204
            assert pre.headers["access-control-allow-origin"] == "*"


_PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
fetch("{api}/v1/models", {{headers: {{"Authorization": "Bearer {key}"}}}})
  .then(r => r.json().then(j => {{
    document.getElementById("out").textContent = "status " + r.status + " models " + j.object;
  }}))
  .catch(e => {{ document.getElementById("out").textContent = "blocked " + e; }});
</script></body></html>"""


def _page_server(page: bytes) -> Callable[[trio.SocketStream], Awaitable[None]]:
    """A handler answering every request with `page` (its listener is the page's origin)."""

    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n"
            )
            await stream.send_all(head.encode() + page)

    return answer


async def test_a_browser_page_on_another_origin_calls_the_api(chromium: str) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    origin = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    async with trio.open_nursery() as nursery, coordinator(_settings(origin)) as running:
        _, key = await funded_key(running)
        page = _PAGE.format(api=running.base_url, key=key).encode()
        nursery.start_soon(trio.serve_listeners, _page_server(page), listeners)
        dom = await dump_dom(chromium, f"{origin}/page.html")
        nursery.cancel_scope.cancel()
    assert "status 200 models list" in dom, dom[-2000:]
