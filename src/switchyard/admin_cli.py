"""`switchyard admin ...`: a command-line client of the admin API (README, "Operating").

It talks HTTP to a running coordinator at `--url` (env `SWITCHYARD_URL`, default
http://127.0.0.1:8080) with `--admin-key` (env `SWITCHYARD_ADMIN_KEY`; prefer the variable,
command lines show up in `ps`). Output is the API's JSON (`--json`, the default) or a
compact human table (`--table`), either flag before or after the subcommand (the last one
given wins); `supervisor` prints an indented tree unless `--json` is given. An API error
exits with status 1 and the API's message on stderr. The HTTP client, option types and
output flags are in `admin_client.py`, the table renderings in `admin_format.py`.

    switchyard admin accounts create alice
    switchyard admin accounts list --table
    switchyard admin accounts credit acct_123 -5000000 --reason "refund reversal"
    switchyard admin pricing get sim-small
    switchyard admin supervisor
    switchyard admin cluster --table
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import click

from .admin_client import (
    DEFAULT_URL,
    LIMIT,
    OUTPUT_HELP,
    USE_DEFAULT,
    AdminClient,
    ApiCallFailed,
    Output,
    add_output_flags,
    path_segment,
)
from .admin_format import render_cluster, render_record, render_table, render_tree

pass_client = click.make_pass_decorator(AdminClient)

# Negative amounts (debits) must parse as arguments, not as unknown options.
_NUMBER_ARGS = {"ignore_unknown_options": True}


@click.group("admin")
@click.option(
    "--url",
    envvar="SWITCHYARD_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="Coordinator base URL (env SWITCHYARD_URL).",
)
@click.option(
    "--admin-key", envvar="SWITCHYARD_ADMIN_KEY", default=None, help="Env SWITCHYARD_ADMIN_KEY."
)
@click.option("--json", "output", flag_value=Output.JSON, help=OUTPUT_HELP[Output.JSON])
@click.option("--table", "output", flag_value=Output.TABLE, help=OUTPUT_HELP[Output.TABLE])
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0)
@click.pass_context
def admin(
    ctx: click.Context, url: str, admin_key: str | None, output: str | None, timeout: float
) -> None:
    """Manage a running coordinator through its admin API.

    --json / --table may also follow any subcommand (the last one given wins).
    """
    ctx.obj = AdminClient(url.rstrip("/"), admin_key, Output(output) if output else None, timeout)


# -- accounts ----------------------------------------------------------------------------

ACCOUNT_COLUMNS: Sequence[str] = ("id", "name", "balance_micro_usd", "earnings_micro_usd")


@admin.group()
def accounts() -> None:
    """Consumer and provider-owner accounts."""


@accounts.command("create")
@click.argument("name")
@pass_client
def accounts_create(client: AdminClient, name: str) -> None:
    """Create an account called NAME."""
    client.emit(client.call("POST", "/admin/accounts", {"name": name}), render_record)


@accounts.command("list")
@pass_client
def accounts_list(client: AdminClient) -> None:
    """List every account."""
    data = client.call("GET", "/admin/accounts")
    client.emit(data, lambda d: render_table(d["accounts"], ACCOUNT_COLUMNS))


@accounts.command("show")
@click.argument("account_id")
@pass_client
def accounts_show(client: AdminClient, account_id: str) -> None:
    """Show one account, with its open holds."""
    client.emit(client.call("GET", f"/admin/accounts/{path_segment(account_id)}"), render_record)


@accounts.command("credit", context_settings=_NUMBER_ARGS)
@click.argument("account_id")
@click.argument("amount_micro_usd", type=int)
@click.option("--reason", required=True, help="Recorded in the ledger.")
@pass_client
def accounts_credit(
    client: AdminClient, account_id: str, amount_micro_usd: int, reason: str
) -> None:
    """Credit AMOUNT_MICRO_USD (negative debits) to an account."""
    body = {"amount_micro_usd": amount_micro_usd, "reason": reason}
    path = f"/admin/accounts/{path_segment(account_id)}/credit"
    client.emit(client.call("POST", path, body), render_record)


PAYOUT_COLUMNS: Sequence[str] = (
    "id", "amount_micro_usd", "created_at", "idempotency_key", "transfer",
)  # fmt: skip


@accounts.command("payout")
@click.argument("account_id")
@click.argument("amount_micro_usd", type=click.IntRange(min=1))
@click.option("--destination", default=None, help="Stripe Connect account (acct_...) to pay.")
@click.option(
    "--idempotency-key", default=None, help="Reuse one to retry safely [default: a new one]."
)
@pass_client
def accounts_payout(
    client: AdminClient,
    account_id: str,
    amount_micro_usd: int,
    destination: str | None,
    idempotency_key: str | None,
) -> None:
    """Pay out AMOUNT_MICRO_USD of an account's earnings (optionally by Stripe transfer)."""
    key = idempotency_key or f"cli-{secrets.token_hex(12)}"
    body: dict[str, Any] = {"amount_micro_usd": amount_micro_usd, "idempotency_key": key}
    if destination is not None:
        body["destination"] = destination
    try:
        data = client.call("POST", f"/admin/accounts/{path_segment(account_id)}/payout", body)
    except ApiCallFailed as exc:
        if exc.status is None or exc.status >= 500:  # the outcome is unknown or half-done
            hint = f"{exc.message} (retry safely with --idempotency-key {key})"
            raise ApiCallFailed(hint, exc.status) from exc
        raise
    client.emit(data, render_record)


@accounts.command("payouts")
@click.argument("account_id")
@pass_client
def accounts_payouts(client: AdminClient, account_id: str) -> None:
    """List an account's payouts and its remaining earnings."""
    data = client.call("GET", f"/admin/accounts/{path_segment(account_id)}/payouts")

    def table(d: dict[str, Any]) -> str:
        earnings = f"earnings_micro_usd {d['earnings_micro_usd']}"
        return earnings + "\n" + render_table(d["payouts"], PAYOUT_COLUMNS)

    client.emit(data, table)


# -- API keys ----------------------------------------------------------------------------


@admin.group()
def keys() -> None:
    """Consumer API keys."""


@keys.command("create")
@click.argument("account_id")
@click.option("--name", default="default", show_default=True)
@click.option("--rpm", type=click.IntRange(min=1), help="Requests per minute [default: server's].")
@click.option("--tpm", type=click.IntRange(min=1), help="Tokens per minute [default: server's].")
@pass_client
def keys_create(
    client: AdminClient, account_id: str, name: str, rpm: int | None, tpm: int | None
) -> None:
    """Create an API key for ACCOUNT_ID (the key is shown this once)."""
    body: dict[str, Any] = {"name": name}
    body.update({k: v for k, v in (("rpm", rpm), ("tpm", tpm)) if v is not None})
    path = f"/admin/accounts/{path_segment(account_id)}/keys"
    client.emit(client.call("POST", path, body), render_record)
    click.echo("Store the key now: it cannot be shown again.", err=True)


@keys.command("list")
@click.argument("account_id")
@pass_client
def keys_list(client: AdminClient, account_id: str) -> None:
    """List the API keys of ACCOUNT_ID (prefixes only)."""
    data = client.call("GET", f"/admin/accounts/{path_segment(account_id)}/keys")
    client.emit(data, lambda d: render_table(d["keys"], ("id", "name", "prefix", "revoked")))


@keys.command("limits")
@click.argument("key_id")
@click.option("--rpm", type=LIMIT, default=None, help="Requests per minute, or 'default'.")
@click.option("--tpm", type=LIMIT, default=None, help="Tokens per minute, or 'default'.")
@pass_client
def keys_limits(
    client: AdminClient, key_id: str, rpm: int | str | None, tpm: int | str | None
) -> None:
    """Show KEY_ID's rate limits, or change the ones given (the others are kept).

    A null limit is the coordinator's default.
    """
    path = f"/admin/keys/{path_segment(key_id)}/limits"
    current = client.call("GET", path)
    if rpm is None and tpm is None:
        client.emit(current, render_record)
        return
    body = {"rpm": current.get("rpm"), "tpm": current.get("tpm")}
    for name, value in (("rpm", rpm), ("tpm", tpm)):
        if value is not None:
            body[name] = None if value == USE_DEFAULT else value
    client.emit(client.call("PUT", path, body), render_record)


@keys.command("revoke")
@click.argument("key_id")
@pass_client
def keys_revoke(client: AdminClient, key_id: str) -> None:
    """Revoke an API key (it stops working within the key-cache TTL)."""
    client.emit(client.call("DELETE", f"/admin/keys/{path_segment(key_id)}"), render_record)


# -- provider tokens, pricing ------------------------------------------------------------


@admin.group("provider-tokens")
def provider_tokens() -> None:
    """Tokens provider agents connect with."""


@provider_tokens.command("create")
@click.argument("account_id")
@click.option("--name", default="default", show_default=True)
@pass_client
def provider_tokens_create(client: AdminClient, account_id: str, name: str) -> None:
    """Create a provider token owned by ACCOUNT_ID (shown this once)."""
    body = {"account_id": account_id, "name": name}
    client.emit(client.call("POST", "/admin/provider-tokens", body), render_record)
    click.echo("Store the token now: it cannot be shown again.", err=True)


@provider_tokens.command("revoke")
@click.argument("token_id")
@pass_client
def provider_tokens_revoke(client: AdminClient, token_id: str) -> None:
    """Revoke a provider token; agents connected with it are disconnected at once."""
    path = f"/admin/provider-tokens/{path_segment(token_id)}"
    client.emit(client.call("DELETE", path), render_record)


@admin.group()
def pricing() -> None:
    """Per-model prices."""


@pricing.command("set")
@click.argument("model")
@click.option("--input", "input_price", type=click.IntRange(min=0), required=True,
              help="Micro-USD per million input tokens.")  # fmt: skip
@click.option("--output", "output_price", type=click.IntRange(min=0), required=True,
              help="Micro-USD per million output tokens.")  # fmt: skip
@click.option("--context-length", type=click.IntRange(min=1), default=None)
@pass_client
def pricing_set(
    client: AdminClient, model: str, input_price: int, output_price: int, context_length: int | None
) -> None:
    """Set the price of MODEL."""
    body: dict[str, Any] = {
        "input_micro_usd_per_mtok": input_price,
        "output_micro_usd_per_mtok": output_price,
    }
    if context_length is not None:
        body["context_length"] = context_length
    client.emit(client.call("PUT", _pricing_path(model), body), render_record)


PRICING_COLUMNS: Sequence[str] = (
    "model", "input_micro_usd_per_mtok", "output_micro_usd_per_mtok", "context_length",
)  # fmt: skip


@pricing.command("list")
@pass_client
def pricing_list(client: AdminClient) -> None:
    """List every model's price (a model without one is free)."""
    data = client.call("GET", "/admin/pricing")
    client.emit(data, lambda d: render_table(d["pricing"], PRICING_COLUMNS))


@pricing.command("get")
@click.argument("model")
@pass_client
def pricing_get(client: AdminClient, model: str) -> None:
    """Show the price of MODEL (exit 1 if it has none)."""
    client.emit(client.call("GET", _pricing_path(model)), render_record)


def _pricing_path(model: str) -> str:
    return f"/admin/pricing/{quote(model, safe='/')}"  # model ids may hold slashes


# -- providers and the actor tree --------------------------------------------------------


def _models_cell(models: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m['id']} {m['in_use']}/{m['slots']}" for m in models) or "-"


def _upstream_cell(upstream: dict[str, Any] | None) -> str:
    if not upstream or upstream.get("healthy", True):
        return "ok"
    return f"down: {upstream.get('reason') or 'no reason given'}"


PROVIDER_COLUMNS: Sequence[str | tuple[str, Callable[[dict[str, Any]], object]]] = (
    "id",
    "status",
    "trust",
    ("models (in use/slots)", lambda p: _models_cell(p.get("models", []))),
    "inflight",
    "routable",
    ("upstream", lambda p: _upstream_cell(p.get("upstream"))),
)


@admin.group()
def providers() -> None:
    """Connected providers."""


@providers.command("list")
@pass_client
def providers_list(client: AdminClient) -> None:
    """List connected providers with status, trust and slots."""
    data = client.call("GET", "/admin/providers")
    client.emit(data, lambda d: render_table(d["providers"], PROVIDER_COLUMNS))


@providers.command("drain")
@click.argument("provider_id")
@pass_client
def providers_drain(client: AdminClient, provider_id: str) -> None:
    """Let PROVIDER_ID finish its in-flight work, then disconnect it."""
    path = f"/admin/providers/{path_segment(provider_id)}/drain"
    client.emit(client.call("POST", path), render_record)


@providers.command("disconnect")
@click.argument("provider_id")
@pass_client
def providers_disconnect(client: AdminClient, provider_id: str) -> None:
    """Close PROVIDER_ID's connection now (its in-flight requests fail)."""
    path = f"/admin/providers/{path_segment(provider_id)}/disconnect"
    client.emit(client.call("POST", path), render_record)


@admin.command()
@pass_client
def cluster(client: AdminClient) -> None:
    """List the replicas this coordinator knows of (live, URL, providers) and its NATS link."""
    client.emit(client.call("GET", "/admin/cluster"), render_cluster)


@admin.command()
@pass_client
def supervisor(client: AdminClient) -> None:
    """Print the live actor tree and its totals (--json for the raw snapshot)."""
    client.emit(client.call("GET", "/admin/supervisor"), render_tree, default=Output.TABLE)


add_output_flags(admin)  # last: every command above takes --json/--table after its name
