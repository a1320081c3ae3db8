"""HTTP side of `switchyard admin`: the admin API client, its errors, and option types.

`AdminClient.call()` makes one request with the admin key and returns the decoded JSON,
or raises `ApiCallFailed` carrying the API's own error message (exit status 1);
`AdminClient.emit()` prints a reply as JSON or as a human table. `add_output_flags()` lets
every subcommand take `--json`/`--table` too, wherever they appear on the command line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
Renderer = Callable[[Any], str]


class Output(StrEnum):
    """How `switchyard admin` prints a reply."""

    JSON = "json"
    TABLE = "table"


OUTPUT_HELP = {Output.JSON: "Print the API's JSON.", Output.TABLE: "Print a compact human table."}


class ApiCallFailed(click.ClickException):
    """The coordinator refused the call (exit status 1, its message on stderr)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # None when the coordinator could not be reached


@dataclass
class AdminClient:
    """Connection settings shared by every `switchyard admin` subcommand."""

    url: str
    admin_key: str | None
    output: Output | None  # None: the command's own default
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
            message = f"HTTP {response.status_code}: {_error_message(data, response)}"
            raise ApiCallFailed(message, response.status_code)
        return data

    def emit(self, data: Any, table: Renderer, default: Output = Output.JSON) -> None:
        """Print `data` as JSON or through `table`, as chosen by the flags."""
        if (self.output or default) == Output.JSON:
            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            click.echo(table(data))


def _set_output(ctx: click.Context, param: click.Parameter, value: object) -> None:
    client = ctx.find_object(AdminClient)
    if client is not None and value in set(Output):  # None or False: the flag was not given
        client.output = Output(str(value))


def add_output_flags(group: click.Group) -> None:
    """Give every group and command below `group` the `--json` and `--table` flags.

    `group` itself declares them as its own options (they build the `AdminClient`); below
    it a flag overrides what was said before it, so the one nearest the end wins.
    """
    for command in group.commands.values():
        command.params += [
            click.Option(
                [f"--{output}", "output"], flag_value=output.value, expose_value=False,
                callback=_set_output, help=OUTPUT_HELP[output],
            )
            for output in Output
        ]  # fmt: skip
        if isinstance(command, click.Group):
            add_output_flags(command)


def _error_message(data: Any, response: httpx.Response) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return response.reason_phrase or "request failed"


def path_segment(value: str) -> str:
    """A value made safe to use as one URL path segment."""
    return quote(value, safe="")


USE_DEFAULT = "default"  # a rate-limit option's value meaning "the coordinator's default"


class LimitValue(click.ParamType):
    """A positive integer, or `default` (the coordinator's default for that limit)."""

    name = "N|default"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == USE_DEFAULT or isinstance(value, int):
            return value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a whole number nor 'default'", param, ctx)
        if number < 1:
            self.fail("a limit must be at least 1 (or 'default')", param, ctx)
        return number


LIMIT = LimitValue()
