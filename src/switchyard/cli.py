"""The `switchyard` command line: serve, dev, provider, admin."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import click
import trio

from . import launch
from .admin_cli import admin
from .multiprocess import replicas_problem
from .provider_cli import provider
from .settings import Settings, from_env
from .storage.errors import InvalidInput
from .storage.keys import API_KEY_PREFIX, chosen_secret


@click.group()
def main() -> None:
    """Switchyard inference coordinator."""


main.add_command(admin)
main.add_command(provider)


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _run_coordinator(entry: Callable[..., Awaitable[None]], settings: Settings, *args: Any) -> None:
    """`trio.run(entry, settings, *args)`; a port it cannot listen on (or, with
    --require-nats, a NATS it cannot reach) is one line, exit 1."""
    try:
        trio.run(entry, settings, *args)
    except launch.CannotStart as exc:
        raise click.ClickException(str(exc)) from None


def _settings_from_env() -> Settings:
    """`from_env()`; a malformed SWITCHYARD_* variable is a usage error naming it."""
    try:
        return from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _check_api_key(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return chosen_secret(value, API_KEY_PREFIX)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.option("--host", default=None, help="Interface to bind [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to bind [default: 8080].")
@click.option(
    "--database-url", default=None, help="postgresql://... (env SWITCHYARD_DATABASE_URL)."
)
@click.option("--admin-key", default=None, help="Admin API key (env SWITCHYARD_ADMIN_KEY).")
@click.option(
    "--nats-url",
    default=None,
    metavar="URL",
    help="Cluster mode: join the replicas on this NATS, e.g. nats://127.0.0.1:4222 "
    "(env SWITCHYARD_NATS_URL; needs --database-url).",
)
@click.option(
    "--replica-id",
    default=None,
    metavar="ID",
    help="This replica's name in the cluster (env SWITCHYARD_REPLICA_ID) [default: generated].",
)
@click.option(
    "--cluster-name",
    default=None,
    metavar="NAME",
    help="NATS namespace the replicas share (env SWITCHYARD_CLUSTER_NAME) [default: switchyard].",
)
@click.option(
    "--require-nats",
    is_flag=True,
    default=None,
    help="Exit if NATS cannot be reached at start, instead of starting degraded (serving "
    "this replica's own providers) and joining when it answers (env SWITCHYARD_REQUIRE_NATS).",
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 256),
    default=None,
    metavar="N",
    help="Run N replica processes on one port (SO_REUSEPORT), supervised; N > 1 needs "
    "--nats-url and --database-url (env SWITCHYARD_REPLICAS) [default: 1].",
)
@click.option("-v", "--verbose", is_flag=True)
def serve(
    host: str | None, port: int | None, database_url: str | None, admin_key: str | None,
    nats_url: str | None, replica_id: str | None, cluster_name: str | None,
    require_nats: bool | None, replicas: int | None, verbose: bool,
) -> None:  # fmt: skip
    """Run the coordinator (flags, then SWITCHYARD_* variables, then defaults)."""
    _setup_logging(verbose)
    settings = _settings_from_env().with_overrides(
        host=host,
        port=port,
        database_url=database_url,
        admin_key=admin_key,
        nats_url=nats_url,
        replica_id=replica_id,
        cluster_name=cluster_name,
        require_nats=require_nats,
        replicas=replicas,
    )
    problem = settings.cluster_problem() or replicas_problem(settings, settings.replicas)
    if problem is not None:
        raise click.UsageError(problem)
    if settings.replicas > 1:
        _run_coordinator(launch.serve_replicas, settings, settings.replicas)
        return
    _run_coordinator(launch.serve, settings)


@main.command()
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--providers", type=click.IntRange(0, 256), default=2, show_default=True)
@click.option(
    "--api-key",
    default=None,
    callback=_check_api_key,
    help=f"Demo API key (sk-sy-...) [default: {launch.DEMO_API_KEY}, the same every start].",
)
@click.option("--admin-key", default=None, help="Admin key [default: dev-admin-key].")
@click.option("-v", "--verbose", is_flag=True)
def dev(
    port: int, providers: int, api_key: str | None, admin_key: str | None, verbose: bool
) -> None:
    """Coordinator plus simulated providers on the in-memory store, with a funded demo key.

    The demo key is fixed (see --api-key) so snippets keep working across restarts.
    """
    _setup_logging(verbose)
    settings = replace(
        _settings_from_env(),
        port=port,
        database_url=None,
        nats_url=None,  # dev is one process on the in-memory store
        admin_key=admin_key or os.environ.get("SWITCHYARD_ADMIN_KEY") or "dev-admin-key",
        cookie_secure=False,  # plain http://127.0.0.1: let curl's cookie jar keep the session
    )
    _run_coordinator(launch.dev, settings, providers, api_key)


if __name__ == "__main__":
    main()
