"""The `switchyard` command line: serve, dev, provider, admin."""

from __future__ import annotations

import click


@click.group()
def main() -> None:
    """Switchyard inference coordinator."""


@main.command()
@click.option("--port", default=8080, show_default=True)
@click.option("--providers", default=2, show_default=True)
def dev(port: int, providers: int) -> None:
    """Coordinator plus simulated providers on the in-memory store."""
    click.echo("switchyard dev: the coordinator is coming soon (runtime foundation only).")
