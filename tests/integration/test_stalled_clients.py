"""Streaming clients that stop reading pin neither slots nor money, nor their handlers.

Raw sockets with a tiny receive buffer ask for a stream and never read. The provider side
floods them; each such stream is ended (its provider work cancelled, its slot released,
its hold settled) while the HTTP write is still stalled, so the next client is served
without waiting for the queue deadline. A write that stays stalled for the send timeout
closes the connection.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trio

from ..polling import wait_until
from .harness import (
    RawProvider,
    Running,
    coordinator,
    fast_settings,
    funded_key,
    no_slots_reserved,
    online_provider,
    scheduler_stats,
)
from .test_billing_e2e import store_for
from .test_no_waiting import no_open_holds

SLOTS = 6
FLOOD = "flood"
BIG = "x" * 64 * 1024  # one delta: a stalled client's buffers fill after a few


async def provider_loop(p: RawProvider, cancelled: set[str]) -> None:
    """Flood requests whose prompt is FLOOD until cancelled; answer others with one token."""
    async with trio.open_nursery() as nursery:

        async def heartbeats() -> None:
            while True:
                await p.heartbeat()
                await trio.sleep(0.2)

        async def flood(rid: str) -> None:
            while rid not in cancelled:
                await p.send({"type": "chunk", "request_id": rid, "deltas": [{"content": BIG}]})

        nursery.start_soon(heartbeats)
        while True:
            frame = await p.recv(timeout=60)
            if frame["type"] == "cancel":
                cancelled.add(frame["request_id"])
            elif frame["type"] == "inference_request":
                rid = frame["request_id"]
                if frame["request"]["messages"][0]["content"] == FLOOD:
                    nursery.start_soon(flood, rid)
                else:
                    await serve_one(p, rid)
            elif frame["type"] == "challenge":
                await p.send(p.answer(frame))


async def serve_one(p: RawProvider, rid: str) -> None:
    await p.send({"type": "chunk", "request_id": rid, "deltas": [{"content": "served"}]})
    usage = {"prompt_tokens": 3, "completion_tokens": 1}
    await p.send({"type": "complete", "request_id": rid, "finish_reason": "stop", "usage": usage})


async def stalled_client(running: Running, key: str) -> trio.socket.SocketType:
    """A socket that asked for a stream and will never read (receive buffer 4 KiB)."""
    host, port = running.base_url.removeprefix("http://").split(":")
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect((host, int(port)))
    body = json.dumps(
        {"model": "m1", "stream": True, "messages": [{"role": "user", "content": FLOOD}]}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    await sock.send(head + body)
    return sock


@asynccontextmanager
async def flooded(
    send_timeout_s: float, store: Any = None
) -> AsyncIterator[tuple[Running, str, str, set[str]]]:
    """A coordinator, a provider with SLOTS slots flooding FLOOD requests, a funded key."""
    settings = replace(
        fast_settings(stream_buffer=8), reserve_timeout_s=60.0, send_timeout_s=send_timeout_s
    )
    async with coordinator(settings, store) as running:
        _, token = await running.provider_token()
        account_id, key = await funded_key(running)
        models = [{"id": "m1", "slots": SLOTS}]
        cancelled: set[str] = set()
        async with online_provider(running, token, models=models) as p:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(provider_loop, p, cancelled)
                yield running, account_id, key, cancelled
                nursery.cancel_scope.cancel()


async def test_stalled_streams_release_slots_and_holds_while_the_write_is_stuck(
    store_target: tuple[str | None, str | None],
) -> None:
    async with store_for(store_target) as store:
        async with flooded(send_timeout_s=300.0, store=store) as (running, account, key, gone):
            socks = [await stalled_client(running, key) for _ in range(SLOTS)]
            try:
                with trio.fail_after(20):
                    # every stalled stream is cancelled on the provider and gives back its
                    # slot and its hold, although nothing closed the sockets
                    while len(gone) < SLOTS:
                        await trio.sleep(0.02)
                    await wait_until(lambda: no_slots_reserved(running), timeout=20)
                    await wait_until(lambda: no_open_holds(running, account), timeout=20)
                stats = await scheduler_stats(running)
                assert stats["counters"]["granted"] == SLOTS
                # ...so the next client is served at once, not after the 60 s queue deadline
                headers = {"Authorization": f"Bearer {key}"}
                body = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}
                async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
                    with trio.fail_after(10):
                        response = await c.post("/v1/chat/completions", json=body, timeout=10)
                assert response.status_code == 200
                assert response.json()["choices"][0]["message"]["content"] == "served"
            finally:
                for sock in socks:
                    sock.close()


async def test_a_write_stalled_past_the_send_timeout_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="switchyard.http.send_timeout")
    async with flooded(send_timeout_s=1.0) as (running, _account, key, gone):
        sock = await stalled_client(running, key)
        try:

            async def timed_out() -> bool:
                return any("send timed out" in r.getMessage() for r in caplog.records)

            await wait_until(timed_out, timeout=20)
            assert gone  # the provider was told to stop
            # reading now gets what was buffered, then the end of the connection: the
            # response was cut off, never finished
            received = b""
            with trio.fail_after(10):
                while chunk := await sock.recv(1 << 20):
                    received += chunk
            assert received.startswith(b"HTTP/1.1 200")
            assert b"data: [DONE]" not in received
        finally:
            sock.close()
        await wait_until(lambda: no_slots_reserved(running))
