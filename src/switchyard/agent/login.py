"""`switchyard provider login`: link this machine to an account by a device code, and keep
the provider token it receives (README, "For providers").

The agent asks the coordinator for a code (`POST /v1/device/code`), shows its owner the
short user code and the page to approve it on, then polls `POST /v1/device/token` no
faster than the interval the coordinator gave, adding 5 s on every `slow_down` (RFC 8628),
until the owner approves (the token arrives, once), denies, or the code expires.

The token is written to `DEFAULT_TOKEN_FILE` (or `--token-file`) with mode 0600, in a
directory created with mode 0700, atomically (a private temporary file renamed into
place); `switchyard provider` reads it when no `--token` is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

DEFAULT_TOKEN_FILE = Path("~/.switchyard/provider_token")
SLOW_DOWN_STEP_S = 5
PENDING = "authorization_pending"
SLOW_DOWN = "slow_down"


class LoginFailed(Exception):
    """The device flow ended without a token (denied, expired, refused, unreachable)."""


@dataclass(frozen=True)
class LinkedToken:
    """What the coordinator handed over."""

    token: str
    token_id: str
    account_id: str
    path: Path


def _base_url(coordinator: str) -> str:
    parts = urlsplit(coordinator.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise LoginFailed(f"coordinator URL must be http(s)://host[:port], got {coordinator!r}")
    return coordinator.strip().rstrip("/")


def _error_code(response: httpx.Response) -> tuple[str | None, str]:
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return None, response.reason_phrase
    if not isinstance(error, dict):
        return None, response.reason_phrase
    return error.get("code"), str(error.get("message") or response.reason_phrase)


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    try:
        return client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise LoginFailed(f"cannot reach the coordinator: {exc}") from exc


def device_login(
    coordinator: str,
    name: str,
    token_file: Path | str = DEFAULT_TOKEN_FILE,
    *,
    show: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = 10.0,
) -> LinkedToken:
    """Run the device flow (see the module docstring); the saved token."""
    base = _base_url(coordinator)
    with httpx.Client(base_url=base, timeout=timeout_s) as client:
        started = _post(client, "/v1/device/code", {"name": name})
        if started.status_code != 200:
            raise LoginFailed(f"the coordinator refused a device code: {_error_code(started)[1]}")
        grant = started.json()
        show(
            f"To link this machine, open {grant['verification_uri']} and enter the code "
            f"{grant['user_code']}\n(or open {grant['verification_uri_complete']}); "
            f"it expires in {grant['expires_in'] // 60} minutes."
        )
        interval = float(grant["interval"])
        deadline = time.monotonic() + float(grant["expires_in"])
        while time.monotonic() < deadline:
            sleep(interval)
            reply = _post(client, "/v1/device/token", {"device_code": grant["device_code"]})
            if reply.status_code == 200:
                body = reply.json()
                path = save_token(body["provider_token"], token_file)
                return LinkedToken(
                    body["provider_token"], body["token_id"], body["account_id"], path
                )
            code, message = _error_code(reply)
            if code == PENDING:
                continue
            if code == SLOW_DOWN:
                interval += SLOW_DOWN_STEP_S
                continue
            raise LoginFailed(f"not linked: {message}")
    raise LoginFailed("not linked: the code expired before it was approved")


def save_token(token: str, token_file: Path | str = DEFAULT_TOKEN_FILE) -> Path:
    """Write the token (mode 0600, directory 0700) atomically; its path."""
    path = Path(token_file).expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def load_token(token_file: Path | str = DEFAULT_TOKEN_FILE) -> str | None:
    """The saved token, or None when there is no file; a file others may read is
    restricted to 0600 first (with a warning)."""
    path = Path(token_file).expanduser()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077:
        log.warning("token file %s had mode %o; restricting it to 0600", path, mode)
        path.chmod(0o600)
    token = path.read_text(encoding="utf-8").strip()
    return token or None
