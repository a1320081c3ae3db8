"""`switchyard admin ...`: a command-line client of the admin API (DESIGN §6).

It talks HTTP to a running coordinator at `--url` (env `SWITCHYARD_URL`, default
http://127.0.0.1:8080) with `--admin-key` (env `SWITCHYARD_ADMIN_KEY`; prefer the variable,
command lines show up in `ps`). Output is the API's JSON (`--json`, the default) or a
compact human table (`--table`); `supervisor` prints an indented tree unless `--json` is
given. An API error exits with status 1 and the API's message on stderr.

    switchyard admin accounts create alice
    switchyard admin --table accounts list
    switchyard admin accounts credit acct_123 -5000000 --reason "refund reversal"
    switchyard admin supervisor
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import click
import httpx

from .admin_format import render_record, render_table, render_tree

DEFAULT_URL = "http://127.0.0.1:8080"
Renderer = Callable[[Any], str]


class ApiCallFailed(click.ClickException):
    """The coordinator refused the call (exit status 1, its message on stderr)."""


@dataclass
class AdminClient:
    """Connection settings shared by every `switchyard admin` subcommand."""

    url: str
    admin_key: str | None
    output: str | None  # "json", "table", or None for the command's own default
    timeout_s: float

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One admin API request; the decoded JSON reply, or `ApiCallFailed`."""
        if not self.admin_key:
            raise click.UsageError("No admin key: set SWITCHYARD_ADMIN_KEY or pass --admin-key.")
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        try:
            with httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout_s) as http:
                response = http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ApiCallFailed(f"cannot reach {self.url}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_error:
            raise ApiCallFailed(f"HTTP {response.status_code}: {_error_message(data, response)}")
        return data

    def emit(self, data: Any, table: Renderer, default: str = "json") -> None:
        """Print `data` as JSON or through `table`, as chosen by the flags."""
        if (self.output or default) == "json":
            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            click.echo(table(data))


def _error_message(data: Any, response: httpx.Response) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return response.reason_phrase or "request failed"


def _segment(value: str) -> str:
    """A value made safe to use as one URL path segment."""
    return quote(value, safe="")


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
@click.option("--json", "output", flag_value="json", help="Print the API's JSON (default).")
@click.option("--table", "output", flag_value="table", help="Print a compact human table.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0)
@click.pass_context
def admin(
    ctx: click.Context, url: str, admin_key: str | None, output: str | None, timeout: float
) -> None:
    """Manage a running coordinator through its admin API."""
    ctx.obj = AdminClient(url.rstrip("/"), admin_key, output, timeout)


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
    client.emit(client.call("GET", f"/admin/accounts/{_segment(account_id)}"), render_record)


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
    path = f"/admin/accounts/{_segment(account_id)}/credit"
    client.emit(client.call("POST", path, body), render_record)


# -- API keys ----------------------------------------------------------------------------


@admin.group()
def keys() -> None:
    """Consumer API keys."""


@keys.command("create")
@click.argument("account_id")
@click.option("--name", default="default", show_default=True)
@pass_client
def keys_create(client: AdminClient, account_id: str, name: str) -> None:
    """Create an API key for ACCOUNT_ID (the key is shown this once)."""
    path = f"/admin/accounts/{_segment(account_id)}/keys"
    client.emit(client.call("POST", path, {"name": name}), render_record)
    click.echo("Store the key now: it cannot be shown again.", err=True)


@keys.command("list")
@click.argument("account_id")
@pass_client
def keys_list(client: AdminClient, account_id: str) -> None:
    """List the API keys of ACCOUNT_ID (prefixes only)."""
    data = client.call("GET", f"/admin/accounts/{_segment(account_id)}/keys")
    client.emit(data, lambda d: render_table(d["keys"], ("id", "name", "prefix", "revoked")))


@keys.command("revoke")
@click.argument("key_id")
@pass_client
def keys_revoke(client: AdminClient, key_id: str) -> None:
    """Revoke an API key (it stops working within the key-cache TTL)."""
    client.emit(client.call("DELETE", f"/admin/keys/{_segment(key_id)}"), render_record)


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
    path = f"/admin/pricing/{quote(model, safe='/')}"
    client.emit(client.call("PUT", path, body), render_record)


# -- providers and the actor tree --------------------------------------------------------


def _models_cell(models: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m['id']} {m['in_use']}/{m['slots']}" for m in models) or "-"


PROVIDER_COLUMNS: Sequence[str | tuple[str, Callable[[dict[str, Any]], object]]] = (
    "id",
    "status",
    "trust",
    ("models (in use/slots)", lambda p: _models_cell(p.get("models", []))),
    "inflight",
    "routable",
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
    path = f"/admin/providers/{_segment(provider_id)}/drain"
    client.emit(client.call("POST", path), render_record)


@providers.command("disconnect")
@click.argument("provider_id")
@pass_client
def providers_disconnect(client: AdminClient, provider_id: str) -> None:
    """Close PROVIDER_ID's connection now (its in-flight requests fail)."""
    path = f"/admin/providers/{_segment(provider_id)}/disconnect"
    client.emit(client.call("POST", path), render_record)


@admin.command()
@pass_client
def supervisor(client: AdminClient) -> None:
    """Print the live actor tree and its totals (--json for the raw snapshot)."""
    client.emit(client.call("GET", "/admin/supervisor"), render_tree, default="table")
