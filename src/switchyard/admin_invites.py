"""`switchyard admin invite-codes create|list|revoke`: invite codes for sign-up.

    switchyard admin invite-codes create --uses 5 --expires-in-days 14 --note "beta wave 2"
    switchyard admin invite-codes list --table
    switchyard admin invite-codes revoke inv_3f9c...

The raw code is printed once, by `create`; hand it to the person who signs up with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from .admin_client import AdminClient, path_segment
from .admin_format import render_record, render_table

pass_client = click.make_pass_decorator(AdminClient)

INVITE_COLUMNS: Sequence[str] = (
    "id", "prefix", "note", "uses", "max_uses", "expires_at", "revoked", "usable",
)  # fmt: skip


@click.group("invite-codes")
def invite_codes() -> None:
    """Invite codes: each lets up to N people sign up (POST /v1/signup) until it expires."""


@invite_codes.command("create")
@click.option("--uses", type=click.IntRange(1, 10_000), default=1, show_default=True)
@click.option(
    "--expires-in-days",
    type=click.FloatRange(min=1 / 24, max=365),
    default=7.0,
    show_default=True,
    help="Lifetime in days (fractions allowed, at least one hour).",
)
@click.option("--note", default="", help="A reminder of whom it is for (at most 100 chars).")
@pass_client
def invite_codes_create(client: AdminClient, uses: int, expires_in_days: float, note: str) -> None:
    """Create an invite code (the code is shown this once)."""
    body = {"max_uses": uses, "expires_in_s": round(expires_in_days * 86400), "note": note}
    client.emit(client.call("POST", "/admin/invite-codes", body), render_record)
    click.echo("Hand the code over now: it cannot be shown again.", err=True)


@invite_codes.command("list")
@pass_client
def invite_codes_list(client: AdminClient) -> None:
    """List invite codes, newest first (prefixes only)."""
    data = client.call("GET", "/admin/invite-codes")
    client.emit(data, lambda d: render_table(d["invite_codes"], INVITE_COLUMNS))


@invite_codes.command("revoke")
@click.argument("code_id")
@pass_client
def invite_codes_revoke(client: AdminClient, code_id: str) -> None:
    """Revoke an invite code: no further sign-ups with it."""
    path = f"/admin/invite-codes/{path_segment(code_id)}"
    client.emit(client.call("DELETE", path), render_record)
