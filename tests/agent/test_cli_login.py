"""`switchyard provider` as a group: without --token it needs the token file that
`provider login` writes, and says so; `provider login` fails cleanly when the coordinator
cannot be reached. (The whole flow against a coordinator: integration/test_selfservice_e2e.)"""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from switchyard.cli import main

NO_ENV = {"SWITCHYARD_PROVIDER_TOKEN": None, "SWITCHYARD_COORDINATOR": None}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_provider_without_token_or_token_file_points_at_login(tmp_path: Path) -> None:
    args = ["provider", "--coordinator", "http://127.0.0.1:9", "--token-file", str(tmp_path / "t")]
    result = CliRunner().invoke(main, args, env=NO_ENV)
    assert result.exit_code == 2
    assert "switchyard provider login --coordinator URL" in result.output


def test_provider_without_coordinator_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["provider", "--token", "pt-sy-x"], env=NO_ENV)
    assert result.exit_code == 2 and "--coordinator" in result.output


def test_login_to_an_unreachable_coordinator_fails_cleanly(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    token_file = tmp_path / "token"
    args = ["provider", "login", "--coordinator", url, "--token-file", str(token_file)]
    result = CliRunner().invoke(main, args, env=NO_ENV)
    assert result.exit_code == 1 and "cannot reach the coordinator" in result.output
    assert not token_file.exists()
    bad = CliRunner().invoke(main, ["provider", "login", "--coordinator", "ftp://x"], env=NO_ENV)
    assert bad.exit_code == 1 and "http(s)://" in bad.output
