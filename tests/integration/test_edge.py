"""The HTTP edge over raw sockets: early answers, request-head limits, slow clients.

A raw socket is the only client that can do what these tests need: send a request's head,
pause, send its body, then reuse the same connection, or trickle a head byte by byte.
Responses are parsed with h11 (the client side of the library hypercorn serves with).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import h11
import pytest
import trio

from switchyard.http import edge

from .harness import ADMIN_KEY, Running, coordinator, fast_settings, funded_key

BODY_LIMIT = 4096
EARLY_ANSWER_BODY = b'{"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}'


def _address(running: Running) -> tuple[str, int]:
    url = urlsplit(running.base_url)
    return url.hostname or "127.0.0.1", url.port or 80


def _head(conn: h11.Connection, method: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    """The bytes of a request head, sent through the client-side state machine `conn`."""
    event = h11.Request(method=method, target=path, headers=[("Host", "127.0.0.1"), *headers])
    return conn.send(event) or b""


def _body(conn: h11.Connection, body: bytes) -> bytes:
    return (conn.send(h11.Data(data=body)) if body else b"") + (
        conn.send(h11.EndOfMessage()) or b""
    )


class Closed(Exception):
    """The server closed (or reset) the connection."""


async def _read_response(stream: trio.SocketStream, conn: h11.Connection) -> int:
    """The status of the next complete response on `stream` (its body is read and dropped)."""
    status = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                raise Closed from None
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.EndOfMessage):
            return status
        elif isinstance(event, h11.ConnectionClosed):
            raise Closed


@dataclass(frozen=True)
class Early:
    """A request the coordinator can answer before reading its body."""

    name: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    status: int
    body: bytes = EARLY_ANSWER_BODY


def _early_answers(api_key: str) -> list[Early]:
    json = ("Content-Type", "application/json")
    bad = ("Authorization", "Bearer sk-sy-not-a-real-key-000")
    good = ("Authorization", f"Bearer {api_key}")
    admin_bad = ("Authorization", "Bearer wrong-admin-key")
    too_big = b"x" * (BODY_LIMIT * 4)
    return [
        Early("chat bad key", "POST", "/v1/chat/completions", (json, bad), 401),
        Early("chat no key", "POST", "/v1/chat/completions", (json,), 401),
        Early("completions bad key", "POST", "/v1/completions", (json, bad), 401),
        Early("messages bad key", "POST", "/v1/messages", (json, ("x-api-key", "nope")), 401),
        Early("checkout bad key", "POST", "/v1/billing/checkout", (json, bad), 401),
        Early("checkout stripe off", "POST", "/v1/billing/checkout", (json, good), 503),
        Early("webhook stripe off", "POST", "/v1/billing/webhook", (json,), 503),
        Early("unknown route", "POST", "/v1/nowhere", (json, good), 404),
        Early("wrong method", "PUT", "/v1/chat/completions", (json, good), 405),
        Early("admin bad key", "POST", "/admin/accounts", (json, admin_bad), 401),
        Early("admin pricing bad key", "PUT", "/admin/pricing/m1", (json, admin_bad), 401),
        Early("payout bad key", "POST", "/admin/accounts/a/payout", (json, admin_bad), 401),
        Early("body over limit", "POST", "/v1/chat/completions", (json, good), 413, too_big),
    ]


async def _early_then_reuse(running: Running, case: Early) -> str | None:
    """Send `case`'s head, its body 50 ms later, then `GET /healthz` on the same connection.

    None when the early answer came and the next request was answered or the connection
    closed within 1 s; otherwise what went wrong.
    """
    conn = h11.Connection(h11.CLIENT)
    length = ("Content-Length", str(len(case.body)))
    head = _head(conn, case.method, case.path, [*case.headers, length])
    stream = await trio.open_tcp_stream(*_address(running))
    async with stream:
        await stream.send_all(head)
        await trio.sleep(0.05)
        try:
            await stream.send_all(_body(conn, case.body))
            with trio.fail_after(5):
                status = await _read_response(stream, conn)
        except (Closed, trio.BrokenResourceError):
            # Only a body over the limit may be refused by closing the connection.
            return None if case.status == 413 else "closed before answering"
        if status != case.status:
            return f"answered {status}, expected {case.status}"
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return None  # the server said Connection: close
        conn.start_next_cycle()
        try:
            await stream.send_all(_head(conn, "GET", "/healthz", []) + _body(conn, b""))
            with trio.move_on_after(1):
                next_status = await _read_response(stream, conn)
                return None if next_status == 200 else f"next request got {next_status}"
        except (Closed, trio.BrokenResourceError):
            return None
        return "next request on the connection neither answered nor closed within 1 s"


async def test_an_early_answer_leaves_the_connection_usable_or_closed() -> None:
    settings = replace(fast_settings(), max_body_bytes=BODY_LIMIT)
    async with coordinator(settings) as running:
        _, api_key = await funded_key(running)
        failures = {}
        for case in _early_answers(api_key):
            problem = await _early_then_reuse(running, case)
            if problem is not None:
                failures[case.name] = problem
        assert failures == {}


async def test_an_early_answer_to_a_body_that_never_comes_closes_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(edge, "DRAIN_TIMEOUT_S", 0.2)
    async with coordinator() as running:
        conn = h11.Connection(h11.CLIENT)
        headers = [("Authorization", "Bearer sk-sy-not-a-real-key-000"), ("Content-Length", "50")]
        async with await trio.open_tcp_stream(*_address(running)) as stream:
            await stream.send_all(_head(conn, "POST", "/v1/chat/completions", headers))
            with trio.fail_after(5):
                assert await _read_response(stream, conn) == 401
                assert conn.their_state is h11.MUST_CLOSE  # the answer said Connection: close
                try:  # and the server closes its end: no half-open connection is left
                    while await stream.receive_some(1024) != b"":
                        pass
                except trio.BrokenResourceError:
                    pass


async def test_a_body_read_first_keeps_the_connection_alive() -> None:
    async with coordinator() as running:
        _, api_key = await funded_key(running)
        headers = [("Authorization", f"Bearer {api_key}"), ("Content-Length", "2")]
        conn = h11.Connection(h11.CLIENT)
        async with await trio.open_tcp_stream(*_address(running)) as stream:
            for _ in range(3):  # a body the route reads: 400, and the connection stays open
                head = _head(conn, "POST", "/v1/chat/completions", headers)
                await stream.send_all(head + _body(conn, b"{}"))
                with trio.fail_after(5):
                    assert await _read_response(stream, conn) == 400
                conn.start_next_cycle()


async def _status_of_head(running: Running, pad: int) -> int | None:
    """Status of `GET /healthz` with a head padded to about `pad` bytes; None if closed."""
    conn = h11.Connection(h11.CLIENT)
    head = _head(conn, "GET", "/healthz", [("X-Pad", "a" * pad)]) + _body(conn, b"")
    async with await trio.open_tcp_stream(*_address(running)) as stream:
        try:
            await stream.send_all(head)
            with trio.fail_after(5):
                return await _read_response(stream, conn)
        except (Closed, trio.BrokenResourceError):
            return None


async def test_request_heads_over_64_kib_are_refused() -> None:
    async with coordinator() as running:
        assert await _status_of_head(running, 60 * 1024) == 200
        for size in (65 * 1024, 70_000, 100_000, 127 * 1024, 200_000):
            assert await _status_of_head(running, size) in (None, 400, 431), size


async def _closed_within(stream: trio.SocketStream, seconds: float, trickle: bytes) -> bool:
    """Trickle `trickle` one byte every 50 ms; True once the server closes the connection."""
    with trio.move_on_after(seconds):
        for byte in trickle:
            try:
                await stream.send_all(bytes([byte]))
            except trio.BrokenResourceError:
                return True
            with trio.move_on_after(0.05):
                try:
                    if await stream.receive_some(1024) == b"":
                        return True
                except trio.BrokenResourceError:
                    return True
        try:
            while await stream.receive_some(1024) != b"":
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


async def test_a_slow_request_head_is_cut_off_after_the_header_timeout() -> None:
    settings = replace(fast_settings(), header_timeout_s=0.5)
    async with coordinator(settings) as running:
        slow = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200
        async with await trio.open_tcp_stream(*_address(running)) as stream:
            assert await _closed_within(stream, 5, slow)


async def test_an_idle_kept_alive_connection_is_closed_after_the_header_timeout() -> None:
    settings = replace(fast_settings(), header_timeout_s=0.5)
    async with coordinator(settings) as running:
        conn = h11.Connection(h11.CLIENT)
        async with await trio.open_tcp_stream(*_address(running)) as stream:
            headers = [("Authorization", f"Bearer {ADMIN_KEY}")]
            await stream.send_all(_head(conn, "GET", "/admin/supervisor", headers))
            await stream.send_all(_body(conn, b""))
            with trio.fail_after(5):
                assert await _read_response(stream, conn) == 200
            # Now idle between requests: the next head must arrive within the timeout.
            assert await _closed_within(stream, 5, b"GET /healthz HTTP/1.1\r\n" + b"X" * 200)
