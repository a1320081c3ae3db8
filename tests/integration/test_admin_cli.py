"""`switchyard admin ...` against a running coordinator.

The coordinator runs in the test's trio loop, so the (synchronous) CLI runs either in a
worker thread through click's CliRunner or, end to end, as `python -m switchyard.cli`.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

import click
import httpx
import trio
from click.testing import CliRunner, Result

from switchyard.admin_cli import admin
from switchyard.cli import main
from switchyard.storage import open_store

from ..polling import wait_until
from .harness import ADMIN_KEY, Running, agents, coordinator, funded_key


async def cli(running: Running | str, *args: str, key: str | None = ADMIN_KEY) -> Result:
    """Run `switchyard admin ARGS` with SWITCHYARD_URL / SWITCHYARD_ADMIN_KEY set."""
    url = running if isinstance(running, str) else running.base_url
    env = {"SWITCHYARD_URL": url, "SWITCHYARD_ADMIN_KEY": key}
    runner = CliRunner()
    return await trio.to_thread.run_sync(
        lambda: runner.invoke(main, ["admin", *args], env=env, catch_exceptions=False)
    )


async def cli_json(running: Running, *args: str) -> Any:
    result = await cli(running, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_accounts_keys_tokens_and_pricing_round_trip() -> None:
    async with coordinator() as running:
        account = await cli_json(running, "accounts", "create", "alice")
        assert account["name"] == "alice" and account["balance_micro_usd"] == 0
        account_id = account["id"]
        listed = await cli_json(running, "accounts", "list")
        assert account_id in {a["id"] for a in listed["accounts"]}

        credited = await cli_json(
            running, "accounts", "credit", account_id, "5000000", "--reason", "top-up"
        )
        assert credited["balance_micro_usd"] == 5_000_000
        debited = await cli_json(
            running, "accounts", "credit", account_id, "-1000000", "--reason", "correction"
        )
        assert debited["balance_micro_usd"] == 4_000_000
        shown = await cli_json(running, "accounts", "show", account_id)
        assert (shown["balance_micro_usd"], shown["open_holds"]) == (4_000_000, 0)

        created = await cli(running, "keys", "create", account_id, "--name", "laptop")
        assert created.exit_code == 0, created.output
        key = json.loads(created.stdout)
        assert key["key"].startswith(key["prefix"]) and key["name"] == "laptop"
        assert "cannot be shown again" in created.stderr
        consumer = {"Authorization": f"Bearer {key['key']}"}
        async with httpx.AsyncClient(base_url=running.base_url, headers=consumer) as client:
            assert (await client.get("/v1/account")).status_code == 200
        keys = await cli_json(running, "keys", "list", account_id)
        assert keys["keys"] == [
            {"id": key["id"], "name": "laptop", "prefix": key["prefix"], "revoked": False}
        ]
        revoked = await cli_json(running, "keys", "revoke", key["id"])
        assert revoked == {"id": key["id"], "revoked": True}
        keys = await cli_json(running, "keys", "list", account_id)
        assert keys["keys"][0]["revoked"] is True

        token = await cli_json(running, "provider-tokens", "create", account_id, "--name", "gpu")
        assert token["token"].startswith(token["prefix"])

        price = await cli_json(
            running, "pricing", "set", "org/model-x", "--input", "150", "--output", "600",
            "--context-length", "8192",
        )  # fmt: skip
        assert price == {
            "model": "org/model-x",
            "input_micro_usd_per_mtok": 150,
            "output_micro_usd_per_mtok": 600,
            "context_length": 8192,
        }


async def test_key_limits_keep_what_is_not_given() -> None:
    async with coordinator() as running:
        account = await cli_json(running, "accounts", "create", "limited")
        key = await cli_json(running, "keys", "create", account["id"], "--rpm", "60")
        assert (key["rpm"], key["tpm"]) == (60, None)
        shown = await cli_json(running, "keys", "limits", key["id"])
        assert shown == {"id": key["id"], "rpm": 60, "tpm": None}
        both = await cli_json(running, "keys", "limits", key["id"], "--tpm", "1000")
        assert both == {"id": key["id"], "rpm": 60, "tpm": 1000}
        reset = await cli_json(running, "keys", "limits", key["id"], "--rpm", "default")
        assert reset == {"id": key["id"], "rpm": None, "tpm": 1000}
        bad = await cli(running, "keys", "limits", key["id"], "--rpm", "0")
        assert bad.exit_code == 2 and "at least 1" in bad.stderr
        assert (await cli_json(running, "keys", "limits", key["id"]))["tpm"] == 1000


async def test_payouts_of_earnings_are_idempotent() -> None:
    async with coordinator() as running, agents(running, count=1) as fleet:
        price = ("--input", "1000000", "--output", "2000000")  # 1 and 2 micro-USD per token
        await cli_json(running, "pricing", "set", "sim-small", *price)
        _, key = await funded_key(running)
        body = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            headers = {"Authorization": f"Bearer {key}"}
            reply = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert reply.status_code == 200, reply.text

        async def earned() -> int:
            shown = await cli_json(running, "accounts", "show", fleet.owner_id)
            return shown["earnings_micro_usd"]

        earnings = await wait_until(earned)
        args = ("accounts", "payout", fleet.owner_id, "1", "--idempotency-key", "payout-1")
        paid = await cli_json(running, *args)
        assert (paid["amount_micro_usd"], paid["transfer"]) == (1, None)
        assert paid["earnings_micro_usd"] == earnings - 1
        again = await cli_json(running, *args)
        assert again["id"] == paid["id"] and again["earnings_micro_usd"] == earnings - 1
        listed = await cli_json(running, "accounts", "payouts", fleet.owner_id)
        assert [p["id"] for p in listed["payouts"]] == [paid["id"]]
        assert listed["earnings_micro_usd"] == earnings - 1

        too_much = await cli(running, "accounts", "payout", fleet.owner_id, str(earnings))
        assert too_much.exit_code == 1
        assert "HTTP 402" in too_much.stderr and "--idempotency-key" not in too_much.stderr


async def test_table_output() -> None:
    async with coordinator() as running:
        account = await cli_json(running, "accounts", "create", "table-test")
        result = await cli(running, "--table", "accounts", "list")
        assert result.exit_code == 0, result.output
        header, *rows = result.stdout.splitlines()
        assert header.split() == ["id", "name", "balance_micro_usd", "earnings_micro_usd"]
        assert [account["id"], "table-test", "0", "0"] in [row.split() for row in rows]
        result = await cli(running, "--table", "accounts", "show", account["id"])
        record = dict(line.split(None, 1) for line in result.stdout.splitlines())
        assert record == {
            "id": account["id"],
            "name": "table-test",
            "balance_micro_usd": "0",
            "earnings_micro_usd": "0",
            "open_holds": "0",
        }


async def test_providers_and_supervisor() -> None:
    async with coordinator() as running, agents(running, count=2) as fleet:
        first, second = (agent.provider_id for agent in fleet.agents)
        listed = await cli_json(running, "providers", "list")
        assert {p["id"] for p in listed["providers"]} == {first, second}
        table = await cli(running, "--table", "providers", "list")
        lines = table.stdout.splitlines()
        assert lines[0].split()[:3] == ["id", "status", "trust"]
        assert any(line.split()[:2] == [first, "online"] for line in lines[1:])
        assert "sim-small 0/4" in table.stdout

        tree = await cli(running, "supervisor")
        assert tree.exit_code == 0, tree.output
        assert tree.stdout.startswith("actors 6 · restarts 0 · dead letters 0")
        names = [line.split()[0] for line in tree.stdout.splitlines()[2:]]
        assert names[:4] == ["/root", "scheduler", "billing", "providers"]
        assert {first, second} <= set(names)
        raw = await cli_json(running, "--json", "supervisor")
        assert raw["totals"]["actors"] == 6 and raw["tree"]["path"] == "/root"

        path = f"/root/providers/{second}"
        before = running.coord.system.lookup(path)
        disconnected = await cli_json(running, "providers", "disconnect", second)
        assert disconnected == {"id": second, "status": "disconnected"}

        async def reconnected() -> bool:  # a new actor, once the agent has dialled back
            try:
                return running.coord.system.lookup(path) is not before
            except LookupError:
                return False

        await wait_until(reconnected, timeout=15)

        drained = await cli_json(running, "providers", "drain", first)
        assert drained == {"id": first, "status": "draining"}

        async def drained_away() -> bool:
            return first not in {p["id"] for p in await running.providers()}

        await wait_until(drained_away, timeout=15)
        missing = await cli(running, "providers", "drain", first)
        assert missing.exit_code == 1
        direct = await running.admin.post(f"/admin/providers/{first}/drain")
        assert f"HTTP 404: {direct.json()['error']['message']}" in missing.stderr
        assert direct.json()["error"]["code"] == "not_found"


async def test_errors_exit_non_zero_with_the_api_message() -> None:
    async with coordinator() as running:
        wrong = await cli(running, "accounts", "list", key="not-the-key")
        assert wrong.exit_code == 1
        assert "HTTP 401: Missing or invalid admin key." in wrong.stderr
        assert wrong.stdout == ""

        missing = await cli(running, "accounts", "show", "acct_nope")
        assert missing.exit_code == 1
        # The API's own message is passed through (whatever its wording).
        direct = await running.admin.get("/admin/accounts/acct_nope")
        assert f"HTTP 404: {direct.json()['error']['message']}" in missing.stderr
        assert "acct_nope" in missing.stderr

        account = await cli_json(running, "accounts", "create", "zero")
        zero = await cli(running, "accounts", "credit", account["id"], "0", "--reason", "x")
        assert zero.exit_code == 1
        assert "amount_micro_usd must not be zero" in zero.stderr

        no_key = await cli(running, "accounts", "list", key=None)
        assert no_key.exit_code == 2
        assert "No admin key" in no_key.stderr

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = await cli(f"http://127.0.0.1:{port}", "accounts", "list")
    assert unreachable.exit_code == 1
    assert f"cannot reach http://127.0.0.1:{port}" in unreachable.stderr


async def test_python_dash_m_entry_point_with_flags() -> None:
    async with coordinator() as running:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
        base = [sys.executable, "-m", "switchyard.cli", "admin", "--url", running.base_url]
        created = await trio.run_process(
            [*base, "--admin-key", ADMIN_KEY, "accounts", "create", "from-subprocess"],
            capture_stdout=True, capture_stderr=True, check=False, env=env,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        account = json.loads(created.stdout)
        assert account["name"] == "from-subprocess"
        assert await running.coord.store.get_account(account["id"]) is not None

        refused = await trio.run_process(
            [*base, "--admin-key", "wrong", "accounts", "list"],
            capture_stdout=True, capture_stderr=True, check=False, env=env,
        )  # fmt: skip
        assert refused.returncode == 1
        assert b"Missing or invalid admin key." in refused.stderr


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable `switchyard admin ...` command, as its words."""
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += leaf_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_admin_command_takes_the_output_flags_after_it() -> None:
    commands = leaf_commands(admin)
    assert ("pricing", "list") in commands and ("supervisor",) in commands
    for words in commands:
        result = CliRunner().invoke(main, ["admin", *words, "--help"])
        assert result.exit_code == 0, result.output
        assert "--table" in result.stdout and "--json" in result.stdout, words


async def test_output_flags_work_before_and_after_the_subcommand() -> None:
    async with coordinator() as running:
        account = await cli_json(running, "accounts", "create", "flags")
        for args in (
            ("--table", "accounts", "list"),
            ("accounts", "list", "--table"),
            ("accounts", "--table", "list"),
        ):
            result = await cli(running, *args)
            assert result.exit_code == 0, result.output
            assert result.stdout.split()[:2] == ["id", "name"], args
            assert account["id"] in result.stdout
        shown = await cli(running, "accounts", "show", account["id"], "--table")
        assert shown.stdout.splitlines()[0].split() == ["id", account["id"]]
        tree = await cli_json(running, "supervisor", "--json")
        assert tree["tree"]["path"] == "/root"
        # The flag nearest the command wins.
        listed = await cli_json(running, "--table", "accounts", "list", "--json")
        assert account["id"] in {a["id"] for a in listed["accounts"]}


async def test_pricing_list_and_get() -> None:
    async with coordinator() as running:
        empty = await cli_json(running, "pricing", "list")
        assert empty == {"pricing": []}
        await cli_json(
            running, "pricing", "set", "org/model-x", "--input", "150", "--output", "600"
        )
        await cli_json(
            running, "pricing", "set", "a-model", "--input", "1", "--output", "2",
            "--context-length", "4096",
        )  # fmt: skip
        model_x = {
            "model": "org/model-x",
            "input_micro_usd_per_mtok": 150,
            "output_micro_usd_per_mtok": 600,
            "context_length": None,
        }
        listed = await cli_json(running, "pricing", "list")
        assert [p["model"] for p in listed["pricing"]] == ["a-model", "org/model-x"]
        assert listed["pricing"][1] == model_x
        assert await cli_json(running, "pricing", "get", "org/model-x") == model_x

        table = await cli(running, "pricing", "list", "--table")
        header, *rows = table.stdout.splitlines()
        assert header.split() == [
            "model", "input_micro_usd_per_mtok", "output_micro_usd_per_mtok", "context_length",
        ]  # fmt: skip
        assert [row.split() for row in rows] == [
            ["a-model", "1", "2", "4096"],
            ["org/model-x", "150", "600", "-"],
        ]

        missing = await cli(running, "pricing", "get", "no-such-model")
        assert missing.exit_code == 1
        assert "HTTP 404" in missing.stderr and "no-such-model" in missing.stderr


async def test_pricing_routes_on_both_stores(store_target: tuple[str | None, str | None]) -> None:
    url, schema = store_target
    async with open_store(url, schema=schema) as store, coordinator(store=store) as running:
        body = {"input_micro_usd_per_mtok": 7, "output_micro_usd_per_mtok": 9}
        assert (await running.admin.put("/admin/pricing/org/m", json=body)).status_code == 200
        one = await running.admin.get("/admin/pricing/org/m")
        assert one.status_code == 200
        assert one.json() == {"model": "org/m", **body, "context_length": None}
        listed = await running.admin.get("/admin/pricing")
        assert listed.json() == {"pricing": [one.json()]}

        unknown = await running.admin.get("/admin/pricing/nope")
        assert unknown.status_code == 404
        error = unknown.json()["error"]
        assert error["code"] == "model_not_found" and "'nope'" in error["message"]
        assert set(error) == {"message", "type", "param", "code"}

        refused = await httpx.AsyncClient(base_url=running.base_url).get("/admin/pricing")
        assert refused.status_code == 401
