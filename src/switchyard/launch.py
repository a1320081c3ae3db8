"""`switchyard serve` and `switchyard dev`: run the coordinator until SIGINT/SIGTERM.

`dev` is what a newcomer runs first: the coordinator on the in-memory store, N simulated
providers in the same process, a funded demo account and its API key, and a curl line to
paste. The demo key is the constant `DEMO_API_KEY` unless `--api-key` chooses one, so
snippets keep working across restarts (the dev coordinator keeps nothing, so a public key
costs nothing). `serve` is the production entry point (Postgres when a database URL is
set). Both turn a port they cannot listen on into `CannotListen`, and `serve` a NATS it
cannot reach at start (cluster mode with `--require-nats`; without it the replica starts
degraded and joins later) into `CannotStart`: one line for the user.

Serving is wired here, above both the coordinator and the HTTP layer (which depends on
the coordinator, one way):

    async with open_coordinator(settings) as coord:          # store and actors
        base_url = await nursery.start(serve_http, coord)    # hypercorn on host:port

`running_coordinator(settings)` does both for tests and `switchyard dev`, yielding the
coordinator and its base URL (port 0 picks a free one).
"""

from __future__ import annotations

import errno
import logging
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TextIO

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .actors.billing_messages import BillingIdle
from .agent.client import ProviderAgent
from .agent.config import AgentConfig
from .agent.simulated import SimulatedConfig
from .coordinator import Coordinator, open_coordinator
from .http.app import create_app
from .http.send_timeout import ServerConfig
from .http.send_timeout import serve as serve_bounded
from .multiprocess import ReplicaSupervisor, reuse_port_socket
from .protocol.limits import MAX_REQUEST_HEAD_BYTES, WEBSOCKET_MAX_MESSAGE_SIZE
from .settings import Settings
from .storage.protocol import Store

log = logging.getLogger(__name__)

DEMO_MODEL = "sim-small"
#: The simulated embedding model `dev` serves too (`agent/sim_kinds.py`).
DEMO_EMBED_MODEL = "sim-embed"
# Fixed and public on purpose: only `dev` uses it, an in-memory coordinator for trying
# things out, so snippets keep working across restarts. Never seeded by `serve`.
DEMO_API_KEY = "sk-sy-dev-demo-key"
DEMO_SIM = SimulatedConfig(ttft_s=0.05, tokens_per_s=40.0, output_tokens=48)
DEMO_CREDIT_MICRO_USD = 100_000_000  # $100
DEMO_PRICE = (100_000, 300_000)  # micro-USD per million input / output tokens


_BIND_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


class CannotStart(Exception):
    """The coordinator cannot start; the message is one line for the user."""


class CannotListen(CannotStart):
    """The HTTP address could not be bound; the message is one line for the user."""


def _is_bind_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _BIND_ERRNOS


@contextmanager
def listen_errors(host: str, port: int, hint: str) -> Iterator[None]:
    """Turn a failure to bind host:port (however deep in exception groups) into `CannotListen`.

    `hint` says how to pick another port; it is appended when the port is in use.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        found, _ = group.split(_is_bind_error)
        if found is None:
            raise
        raise _cannot_listen(_first_leaf(found), host, port, hint) from None
    except OSError as exc:
        if not _is_bind_error(exc):
            raise
        raise _cannot_listen(exc, host, port, hint) from None


@contextmanager
def cluster_errors() -> Iterator[None]:
    """Turn NATS being unreachable at start under `--require-nats` (however deep in
    exception groups) into `CannotStart`. Imports nothing of the cluster unless
    something failed."""
    try:
        yield
    except BaseExceptionGroup as group:
        found, _ = group.split(_is_transport_unavailable)
        if found is None:
            raise
        raise CannotStart(str(_first_leaf(found))) from None
    except Exception as exc:
        if not _is_transport_unavailable(exc):
            raise
        raise CannotStart(str(exc)) from None


def _is_transport_unavailable(exc: BaseException) -> bool:
    from .cluster.errors import TransportUnavailable  # no nats import

    return isinstance(exc, TransportUnavailable)


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _cannot_listen(exc: BaseException, host: str, port: int, hint: str) -> CannotListen:
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return CannotListen(f"{host}:{port} is already in use; {hint}.")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return CannotListen(f"cannot listen on {host}:{port}: {reason} (see --host and --port).")


async def serve_http(
    coord: Coordinator,
    shutdown: trio.Event | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the HTTP API with hypercorn until `shutdown` is set; reports the base URL."""
    config = ServerConfig()
    config.send_timeout_s = coord.settings.send_timeout_s  # a client that stops reading
    config.bind = [f"{coord.settings.host}:{coord.settings.port}"]
    if coord.settings.reuse_port:  # one of `serve --replicas N`: share the port
        sock = reuse_port_socket(coord.settings.host, coord.settings.port)
        config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and listens on) it now
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5.0  # after Coordinator.drain: only stragglers are left
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_SIZE  # see protocol/limits.py
    config.h11_max_incomplete_size = MAX_REQUEST_HEAD_BYTES  # the edge checks complete heads
    # One hypercorn timer: from accepting a connection (or finishing a response on it) to
    # a complete request head. It cuts off slow heads and idle keep-alive connections.
    config.keep_alive_timeout = coord.settings.header_timeout_s
    config.backlog = 4096  # a burst of consumers must not overflow the accept queue (100)
    app = create_app(coord)
    trigger = (shutdown if shutdown is not None else trio.Event()).wait
    await serve_bounded(app, config, shutdown_trigger=trigger, task_status=_FirstBind(task_status))


class _FirstBind:
    """Adapts hypercorn's `started(binds)` to report just the first base URL."""

    def __init__(self, task_status: trio.TaskStatus[str]) -> None:
        self._task_status = task_status

    def started(self, binds: list[str] | None = None) -> None:
        self._task_status.started((binds or [""])[0])


@asynccontextmanager
async def running_coordinator(
    settings: Settings, store: Store | None = None
) -> AsyncIterator[tuple[Coordinator, str]]:
    """A coordinator serving HTTP; yields (coordinator, base URL like http://127.0.0.1:PORT).

    Leaving the block drains gracefully (`Coordinator.drain`, up to the configured grace
    period), stops the HTTP server, waits for the billing actor to settle what is pending,
    then stops the actors and the store.
    """
    async with open_coordinator(settings, store) as coord:
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            base_url = await nursery.start(serve_http, coord, shutdown)
            if coord.cluster is not None:
                coord.cluster.membership.url = base_url
            try:
                yield coord, base_url
            finally:
                with trio.CancelScope(shield=True):
                    await coord.drain(settings.shutdown_grace_s)
                    shutdown.set()
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await coord.billing.ask(BillingIdle(), timeout=10)


async def wait_for_signal() -> None:
    """Return on the first SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            return


async def serve(settings: Settings) -> None:
    """Run the coordinator until a signal arrives, then shut down gracefully."""
    if not settings.admin_key:
        log.warning("no admin key set (--admin-key / SWITCHYARD_ADMIN_KEY): admin API disabled")
    hint = "pick another port with --port (or SWITCHYARD_PORT)"
    with listen_errors(settings.host, settings.port, hint), cluster_errors():
        async with running_coordinator(settings) as (coord, base_url):
            cluster = f", cluster {coord.cluster.name}" if coord.cluster else ""
            replica = coord.replica_id
            log.info("switchyard listening on %s (replica %s%s)", base_url, replica, cluster)
            await wait_for_signal()


async def serve_replicas(settings: Settings, replicas: int) -> None:
    """`serve --replicas N`: N coordinator processes on one port, supervised until a
    signal arrives (`multiprocess.py`)."""
    hint = "pick another port with --port (or SWITCHYARD_PORT)"
    with listen_errors(settings.host, settings.port, hint):
        await ReplicaSupervisor(settings, replicas).run()


async def seed_demo(coord: Coordinator, api_key: str) -> tuple[str, str]:
    """A funded demo account with `api_key`; returns (key, provider token)."""
    store = coord.store
    account = await store.create_account("demo")
    await store.credit(account.id, DEMO_CREDIT_MICRO_USD, kind="topup", reason="dev demo credit")
    _, key = await store.create_api_key(account.id, "demo", raw_key=api_key)
    await store.set_pricing(DEMO_MODEL, *DEMO_PRICE, context_length=8192)
    await store.set_pricing(DEMO_EMBED_MODEL, DEMO_PRICE[0], 0, context_length=8192)
    owner = await store.create_account("demo-provider-owner")
    _, token = await store.create_provider_token(owner.id, "dev")
    return key, token


async def dev(
    settings: Settings, providers: int, api_key: str | None, out: TextIO = sys.stdout
) -> None:
    """Coordinator + simulated providers + demo account, until a signal arrives.

    Without `api_key` the demo key is `DEMO_API_KEY`, the same on every start.
    """
    suggestion = settings.port + 1 if 0 < settings.port < 65535 else 8081
    hint = f'pick another port with --port (make dev ARGS="--port {suggestion}")'
    with listen_errors(settings.host, settings.port, hint):
        await _dev(settings, providers, api_key or DEMO_API_KEY, out)


async def _dev(settings: Settings, providers: int, api_key: str, out: TextIO) -> None:
    async with running_coordinator(settings) as (coord, base_url):
        key, token = await seed_demo(coord, api_key)
        agents = [
            ProviderAgent(
                AgentConfig(
                    coordinator=base_url,
                    token=token,
                    models=(DEMO_MODEL, DEMO_EMBED_MODEL),
                    slots=8,
                    simulated=DEMO_SIM,
                    shutdown_grace_s=2.0,
                ),
                key=Ed25519PrivateKey.generate(),
            )
            for _ in range(providers)
        ]
        async with trio.open_nursery() as nursery:
            for agent in agents:
                nursery.start_soon(agent.run)
            with trio.move_on_after(10):
                for agent in agents:
                    await agent.wait_online()
            out.write(banner(base_url, key, settings.admin_key or "", providers))
            out.flush()
            await wait_for_signal()
            for agent in agents:
                agent.stop(1.0)


def banner(base_url: str, key: str, admin_key: str, providers: int) -> str:
    """What `dev` prints once its providers are online: keys, a curl line, the SDK line."""
    origin = "the same on every start; dev only" if key == DEMO_API_KEY else "from --api-key"
    curl = (
        f"curl -N {base_url}/v1/chat/completions -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        f'-d \'{{"model": "{DEMO_MODEL}", "stream": true, '
        '"messages": [{"role": "user", "content": "Hello!"}]}\''
    )
    return (
        f"\nSwitchyard dev coordinator on {base_url} (in-memory store: nothing is kept)\n"
        f"  simulated providers: {providers} serving {DEMO_MODEL} and {DEMO_EMBED_MODEL}\n"
        f"                       (it answers 'tok0 tok1 ... tok{DEMO_SIM.output_tokens - 1}' "
        "to any prompt, cut at max_tokens;\n"
        f"                       {DEMO_EMBED_MODEL} embeds anything as 16 deterministic numbers)\n"
        f"  demo API key:        {key}  ($100 of credit; {origin})\n"
        f"  admin key:           {admin_key}\n\n"
        f"Try it:\n  {curl}\n\n"
        f"Or with the OpenAI SDK: OpenAI(base_url='{base_url}/v1', api_key='{key}')\n"
        "Press Ctrl-C to stop.\n"
    )
