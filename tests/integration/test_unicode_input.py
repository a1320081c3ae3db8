"""Lone UTF-16 surrogates (`\\udc00` escapes) in any JSON body: a 400 naming the field.

JSON lets a string escape half of a surrogate pair; Python decodes it into a `str` that
cannot be encoded as UTF-8 (nor stored by Postgres, nor sent to a provider). Every string
field a consumer or an administrator sends must be refused at the boundary, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from switchyard.storage import open_store

from .harness import coordinator, fast_settings, funded_key

LONE = "\udc00"
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MESSAGES = "/v1/messages"


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}], **extra}


def _completion(**extra: Any) -> dict[str, Any]:
    return {"model": "sim-small", "prompt": "hi", **extra}


def _messages(**extra: Any) -> dict[str, Any]:
    body = {"model": "sim-small", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    return {**body, **extra}


def _user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def _part(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": "ok"}, {"type": "text", "text": text}]


BAD = f"a{LONE}b"
# (route, body with a lone surrogate, the parameter that must be named)
CASES: list[tuple[str, dict[str, Any], str]] = [
    (CHAT, _chat(messages=_user(BAD)), "messages[0].content"),
    (CHAT, _chat(messages=_user(_part(BAD))), "messages[0].content[1].text"),
    (CHAT, _chat(messages=[*_user("x"), {"role": "tool", "content": BAD}]), "messages[1].content"),
    (CHAT, _chat(stop=BAD), "stop"),
    (CHAT, _chat(stop=["ok", BAD]), "stop[1]"),
    (CHAT, _chat(model=BAD), "model"),
    (CHAT, _chat(user=BAD), "user"),
    (COMPLETIONS, _completion(prompt=BAD), "prompt"),
    (COMPLETIONS, _completion(prompt=[BAD]), "prompt[0]"),
    (COMPLETIONS, _completion(stop=BAD), "stop"),
    (COMPLETIONS, _completion(stop=[BAD]), "stop[0]"),
    (COMPLETIONS, _completion(model=BAD), "model"),
    (COMPLETIONS, _completion(user=BAD), "user"),
    (MESSAGES, _messages(messages=_user(BAD)), "messages[0].content"),
    (MESSAGES, _messages(messages=_user(_part(BAD))), "messages[0].content[1].text"),
    (MESSAGES, _messages(system=BAD), "system"),
    (MESSAGES, _messages(system=_part(BAD)), "system[1].text"),
    (MESSAGES, _messages(stop_sequences=["ok", BAD]), "stop_sequences[1]"),
    (MESSAGES, _messages(model=BAD), "model"),
    (MESSAGES, _messages(metadata={"user_id": BAD}), "metadata.user_id"),
]


def _raw(body: dict[str, Any]) -> bytes:
    """JSON with the surrogate as a `\\udc00` escape (json.dumps escapes non-ASCII)."""
    raw = json.dumps(body).encode()
    assert b"\\udc00" in raw
    return raw


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("route", "body", "param"), CASES, ids=[f"{r[4:]}:{p}" for r, _, p in CASES]
)
async def test_lone_surrogate_in_a_consumer_field_is_a_400_naming_it(
    route: str, body: dict[str, Any], param: str, stream: bool
) -> None:
    async with coordinator() as running:
        _, key = await funded_key(running)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as c:
            r = await c.post(route, content=_raw({**body, "stream": stream}))
        assert r.status_code == 400, r.text
        if route == MESSAGES:
            assert r.json()["type"] == "error"
            error = r.json()["error"]
        else:
            error = r.json()["error"]
            assert error["param"] == param
        assert error["type"] == "invalid_request_error"
        assert f"'{param}'" in error["message"]
        assert "surrogate" in error["message"]


@asynccontextmanager
async def _admin_env(target: tuple[str | None, str | None]) -> AsyncIterator[Any]:
    url, schema = target
    async with open_store(url, schema=schema) as store, coordinator(fast_settings(), store) as r:
        yield r


async def test_lone_surrogates_in_admin_and_billing_bodies_are_400s(
    store_target: tuple[str | None, str | None],
) -> None:
    async with _admin_env(store_target) as running:
        account_id, _ = await funded_key(running)
        credit = {"amount_micro_usd": 5, "reason": BAD}
        cases: list[tuple[str, str, dict[str, Any], str]] = [
            ("POST", "/admin/accounts", {"name": BAD}, "name"),
            ("POST", f"/admin/accounts/{account_id}/credit", credit, "reason"),
            ("POST", f"/admin/accounts/{account_id}/keys", {"name": BAD}, "name"),
            ("POST", "/admin/provider-tokens", {"account_id": BAD}, "account_id"),
            ("POST", "/admin/provider-tokens", {"account_id": account_id, "name": BAD}, "name"),
            ("POST", f"/admin/accounts/{account_id}/payout",
             {"amount_micro_usd": 1, "idempotency_key": BAD}, "idempotency_key"),
            ("POST", f"/admin/accounts/{account_id}/payout",
             {"amount_micro_usd": 1, "destination": BAD}, "destination"),
            ("PUT", "/admin/pricing/sim-small",
             {"input_micro_usd_per_mtok": 1, "output_micro_usd_per_mtok": 1, BAD: 1}, ""),
        ]  # fmt: skip
        for method, path, body, param in cases:
            r = await running.admin.request(method, path, content=_raw(body))
            assert r.status_code == 400, (path, r.text)
            error = r.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert error["param"] == (param or None), (path, error)
            assert "surrogate" in error["message"], (path, error)
        accounts = (await running.admin.get("/admin/accounts")).json()["accounts"]
        assert len(accounts) == 1  # the funded consumer's, nothing else was created
        account = (await running.admin.get(f"/admin/accounts/{account_id}")).json()
        assert account["balance_micro_usd"] == 100_000_000
