"""Upstream health: is the agent's inference server answering, and if not, why.

`UpstreamHealth` probes the upstream every `interval_s` with a GET that must answer 2xx
within `timeout_s`. Which URL: the one configured (`--health-url`), else the server's
`/health` (vLLM and llama.cpp have it; llama.cpp answers 503 while its model loads), and
when that route does not exist (404/405, Ollama) the upstream's `/models`, which every
OpenAI-compatible server serves. A request's transport failure (`report_failure`) marks
the upstream down at once and wakes the prober for an early look.

Every change of state sets the event handed out by `changed()`, so the session can tell
the coordinator at once and fail its in-flight work. Logging: one WARNING when the
upstream goes down, one INFO when it is back; nothing per probe. An unmonitored instance
(no URLs: the simulated backend) is always healthy.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import trio

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 500
#: Statuses meaning "this server has no such route": try the next probe URL.
NO_ROUTE = frozenset({404, 405})


@dataclass(frozen=True, slots=True)
class UpstreamState:
    """Whether the upstream answers; `reason` says why not (None while healthy)."""

    healthy: bool = True
    reason: str | None = None

    @property
    def message(self) -> str:
        """The error message of work refused or failed because of it."""
        return f"upstream is down: {self.reason or 'unknown reason'}"


def probe_urls(upstream: str, health_url: str | None = None) -> tuple[str, ...]:
    """The URLs to probe, best first: `health_url` alone, else `/health` then `/models`."""
    if health_url:
        return (health_url,)
    base = upstream.rstrip("/")
    parts = urlsplit(base)
    return (urlunsplit((parts.scheme, parts.netloc, "/health", "", "")), f"{base}/models")


class UpstreamHealth:
    """The upstream's health and the loop (`run`) that probes it; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str] = (),
        *,
        interval_s: float = 5.0,
        timeout_s: float = 2.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if interval_s <= 0 or timeout_s <= 0:
            raise ValueError("health interval and timeout must be > 0")
        self._urls = tuple(urls)
        self._pick = 0
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._headers = dict(headers or {})
        self.state = UpstreamState()
        self.probes = 0  # probes completed
        self._changed = trio.Event()
        self._wake = trio.Event()
        self._down_since: float | None = None

    @property
    def monitored(self) -> bool:
        return bool(self._urls)

    @property
    def url(self) -> str | None:
        """The URL probed now (None when unmonitored)."""
        return self._urls[self._pick] if self._urls else None

    def changed(self) -> trio.Event:
        """An event set at the next change of `state` (take it before reading `state`)."""
        return self._changed

    async def watch(self, on_change: Callable[[UpstreamState], Awaitable[None]]) -> None:
        """Await `on_change(state)` for every state unlike the last one seen (healthy first)."""
        seen = UpstreamState()
        while True:
            changed = self._changed
            if self.state != seen:
                seen = self.state
                await on_change(seen)
            await changed.wait()

    def report_failure(self, reason: str) -> None:
        """A request could not reach the upstream: down now, and probe again soon."""
        if not self.monitored:
            return
        self._set(UpstreamState(False, reason[:MAX_REASON_CHARS]))
        self._wake.set()

    async def run(self) -> None:
        """Probe until cancelled (returns at once when unmonitored)."""
        if not self.monitored:
            return
        timeout = httpx.Timeout(self.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, headers=self._headers) as client:
            while True:
                self._wake = trio.Event()  # a failure reported during the probe re-probes
                reason = await self._probe(client)
                self.probes += 1
                self._set(UpstreamState(reason is None, reason))
                with trio.move_on_after(self.interval_s):
                    await self._wake.wait()

    async def _probe(self, client: httpx.AsyncClient) -> str | None:
        """None if the upstream answered 2xx, else why not."""
        while True:
            url = self._urls[self._pick]
            try:
                with trio.fail_after(self.timeout_s):
                    response = await client.get(url)
            except (trio.TooSlowError, httpx.TimeoutException):
                return f"GET {url}: no answer within {self.timeout_s:g}s"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                why = f"GET {url}: cannot connect ({type(exc).__name__}: {exc})"
                return why[:MAX_REASON_CHARS]
            if response.status_code in NO_ROUTE and self._pick + 1 < len(self._urls):
                self._pick += 1
                log.info("upstream has no %s; probing %s instead", url, self.url)
                continue
            if response.is_success:
                return None
            return f"GET {url}: HTTP {response.status_code}"

    def _set(self, state: UpstreamState) -> None:
        previous, self.state = self.state, state
        if state == previous:
            return
        if previous.healthy and not state.healthy:
            self._down_since = trio.current_time()
            log.warning("upstream is down (%s): reporting no capacity", state.reason)
        elif state.healthy and not previous.healthy:
            since = self._down_since
            down_for = 0.0 if since is None else trio.current_time() - since
            log.info("upstream is back after %.1fs", down_for)
        self._changed.set()
        self._changed = trio.Event()
