"""The load generator of bench/load.py: C concurrent streaming clients on raw trio sockets.

Each client holds one HTTP/1.1 keep-alive connection and posts streaming chat completions
back to back. Responses are de-chunked by hand and every chunk is timestamped when it
completes; a chunk is one server write, so it holds whole SSE events, and the content
events in it are counted with one `bytes.count`. That keeps the client's cost per token
to a few microseconds, which matters: it shares the machine's two cores with what it
measures. Clients start staggered over `ramp_s`; only requests that start inside the
measurement window count towards TTFT and inter-token gaps, while requests/s and
tokens/s count completions and token arrivals inside the window.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

TOKEN_MARK = b'"delta":{"content":'
ERROR_MARK = b'data: {"error"'
READ_SIZE = 65536
ERROR_BACKOFF_S = 0.05


@dataclass(frozen=True)
class Target:
    """Where one client sends its requests."""

    host: str
    port: int
    api_key: str | None = None


@dataclass
class LoadStats:
    """What the clients saw; percentiles come from `summary`."""

    window_start: float = 0.0
    window_end: float = 0.0
    completed: int = 0  # requests completed inside the window
    tokens_in_window: int = 0
    measured: int = 0  # requests started inside the window (TTFT and gaps come from these)
    ttfts: array[float] = field(default_factory=lambda: array("d"))
    gaps: array[float] = field(default_factory=lambda: array("d"))
    zero_gaps: int = 0  # tokens that arrived in the same chunk as the one before them
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        span = max(self.window_end - self.window_start, 1e-9)
        ttfts = sorted(self.ttfts)
        gaps = sorted(self.gaps)
        total_gaps = len(gaps) + self.zero_gaps

        def gap_pct(q: float) -> float | None:
            if not total_gaps:
                return None
            k = min(total_gaps - 1, int(q * total_gaps))
            return 0.0 if k < self.zero_gaps else gaps[k - self.zero_gaps]

        return {
            "requests_per_s": round(self.completed / span, 1),
            "tokens_per_s": round(self.tokens_in_window / span, 1),
            "requests_measured": self.measured,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "ttft_ms": {f"p{int(q * 100)}": _ms(_pct(ttfts, q)) for q in (0.5, 0.9, 0.99)},
            "inter_token_ms": {f"p{int(q * 100)}": _ms(gap_pct(q)) for q in (0.5, 0.9, 0.99)},
        }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class _Failed(Exception):
    """One request failed; `kind` is its error label."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Client:
    """One connection, one request at a time."""

    def __init__(self, target: Target, request: bytes, expect_tokens: int, stats: LoadStats):
        self.target = target
        self.request = request
        self.expect_tokens = expect_tokens
        self.stats = stats
        self.stream: trio.SocketStream | None = None
        self.buf = bytearray()
        self.received_at = 0.0

    async def close(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await stream.aclose()

    async def loop(self, start_at: float, stop_at: float) -> None:
        await trio.sleep_until(start_at)
        try:
            while trio.current_time() < stop_at:
                await self.one()
        finally:
            with trio.CancelScope(shield=True):
                await self.close()

    async def one(self) -> None:
        stats = self.stats
        started = time.perf_counter()
        measured = stats.window_start <= started < stats.window_end
        record = _Record(started)
        try:
            if self.stream is None:
                self.stream = await trio.open_tcp_stream(self.target.host, self.target.port)
                self.buf = bytearray()
            await self.stream.send_all(self.request)
            await self._response(record)
            if record.tokens != self.expect_tokens:
                raise _Failed(f"tokens_{'short' if record.tokens < self.expect_tokens else 'long'}")
        except (
            _Failed,
            ValueError,
            OSError,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
        ) as exc:
            await self.close()
            if measured:
                stats.errors[_error_kind(exc)] += 1
            await trio.sleep(ERROR_BACKOFF_S)  # no hot loop against a server that refuses
            return
        except trio.Cancelled:
            if measured:
                stats.errors["unfinished_at_deadline"] += 1
            raise
        finally:
            if measured:
                stats.measured += 1
        now = time.perf_counter()
        if stats.window_start <= now < stats.window_end:
            stats.completed += 1
        if measured:
            if record.first is not None:
                stats.ttfts.append(record.first - started)
            stats.gaps.extend(record.gaps)
            stats.zero_gaps += record.zero_gaps

    async def _receive(self) -> float:
        assert self.stream is not None
        data = await self.stream.receive_some(READ_SIZE)
        if not data:
            raise _Failed("connection_closed")
        self.buf += data
        self.received_at = now = time.perf_counter()
        return now

    async def _response(self, record: _Record) -> None:
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            await self._receive()
        head = bytes(buf[:end]).lower()
        del buf[: end + 4]
        status = int(head[9:12])
        if b"transfer-encoding: chunked" not in head:
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
            while len(buf) < length:
                await self._receive()
            del buf[:length]
            raise _Failed(f"http_{status}")
        if status != 200:
            await self._chunks(record, self.received_at)
            raise _Failed(f"http_{status}")
        await self._chunks(record, self.received_at)
        if b"connection: close" in head:
            await self.close()

    async def _chunks(self, record: _Record, now: float) -> None:
        """Consume a chunked body, crediting each complete chunk's tokens to `now`."""
        buf = self.buf
        window_start, window_end = self.stats.window_start, self.stats.window_end
        while True:
            pos = 0
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(buf[pos:eol], 16)
                end = eol + 2 + size
                if len(buf) < end + 2:
                    break
                if size == 0:
                    del buf[: end + 2]
                    return
                n = buf.count(TOKEN_MARK, eol + 2, end)
                if n:
                    record.add(n, now)
                    if window_start <= now < window_end:
                        self.stats.tokens_in_window += n
                if buf.find(ERROR_MARK, eol + 2, end) >= 0:
                    record.error = True
                pos = end + 2
            if pos:
                del buf[:pos]
            if record.error:
                raise _Failed("stream_error")  # the caller closes the connection
            now = await self._receive()


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, _Failed):
        return exc.kind
    if isinstance(exc, ValueError):
        return "bad_response"
    return type(exc).__name__


class _Record:
    """Arrival times of one response's tokens."""

    __slots__ = ("error", "first", "gaps", "last", "started", "tokens", "zero_gaps")

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.last = 0.0
        self.tokens = 0
        self.zero_gaps = 0
        self.gaps: list[float] = []
        self.error = False

    def add(self, n: int, now: float) -> None:
        if self.first is None:
            self.first = now
        else:
            self.gaps.append(now - self.last)
        self.last = now
        self.tokens += n
        self.zero_gaps += n - 1


def build_request(target: Target, model: str, max_tokens: int) -> bytes:
    """The raw bytes of one streaming chat completion request."""
    body = json.dumps(
        {
            "model": model,
            "stream": True,
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "Say something."}],
        }
    ).encode()
    lines = [
        b"POST /v1/chat/completions HTTP/1.1",
        f"Host: {target.host}:{target.port}".encode(),
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
    ]
    if target.api_key:
        lines.append(f"Authorization: Bearer {target.api_key}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def run_load(
    targets: list[Target],
    *,
    concurrency: int,
    model: str,
    output_tokens: int,
    ramp_s: float,
    measure_s: float,
    drain_s: float,
) -> LoadStats:
    """Run `concurrency` clients (client i uses `targets[i % len(targets)]`)."""
    stats = LoadStats()
    now = trio.current_time()
    wall = time.perf_counter()
    stats.window_start = wall + ramp_s
    stats.window_end = stats.window_start + measure_s
    stop_at = now + ramp_s + measure_s
    clients = []
    for i in range(concurrency):
        target = targets[i % len(targets)]
        request = build_request(target, model, output_tokens)
        clients.append(_Client(target, request, output_tokens, stats))
    with trio.move_on_at(stop_at + drain_s):  # requests cut here count as unfinished
        async with trio.open_nursery() as nursery:
            for i, client in enumerate(clients):
                nursery.start_soon(client.loop, now + ramp_s * i / concurrency, stop_at)
    return stats
