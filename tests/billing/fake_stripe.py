"""A small fake Stripe API on 127.0.0.1 (hypercorn + a raw ASGI app) that records requests.

localstripe installs and runs on Python 3.11 but implements neither Checkout Sessions nor
transfers (both answer 404), so the billing tests use this instead. It implements what
stripe-python sends for the two calls Switchyard makes:

- `POST /v1/checkout/sessions`: form-encoded params → a `checkout.session` object;
- `POST /v1/transfers`: → a `transfer` object, deduplicated by the `Idempotency-Key`
  header like Stripe (a replay returns the saved response with `Idempotent-Replayed`);
  a destination not in `connected_accounts` is refused with 400 `resource_missing`
  (a validation failure, which Stripe does not save against the key).

Every request (method, path, lower-cased headers, flattened form params) is in `requests`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

SECRET_KEY = "sk_test_switchyard_fake"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    """State and request log of the fake; `base_url` is set once it listens."""

    secret_key: str = SECRET_KEY
    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    connected_accounts: set[str] = field(default_factory=set)
    _saved: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def received(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def complete_session(self, session_id: str) -> dict[str, Any]:
        """Mark a session paid, as Stripe does when the buyer pays; returns the object."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status="paid")
        return dict(session)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.requests.append(Recorded(scope["method"], scope["path"], headers, form))
        status, payload, extra = self._handle(scope["method"], scope["path"], headers, form)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})

    def _handle(
        self, method: str, path: str, headers: dict[str, str], form: dict[str, str]
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
        if headers.get("authorization") != f"Bearer {self.secret_key}":
            return 401, _error("invalid_request_error", None, "Invalid API Key provided"), []
        if method == "POST" and path == "/v1/checkout/sessions":
            return (*self._create_session(form), [])
        if method == "POST" and path == "/v1/transfers":
            key = headers.get("idempotency-key")
            if key is not None and key in self._saved:
                status, saved = self._saved[key]
                return status, saved, [(b"idempotent-replayed", b"true")]
            status, payload = self._create_transfer(form)
            if key is not None and status == 200:
                self._saved[key] = (status, payload)
            return status, payload, []
        return 404, _error("invalid_request_error", None, f"Unrecognized request URL {path}"), []

    def _create_session(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        required = ("mode", "success_url", "line_items[0][price_data][unit_amount]")
        missing = [name for name in required if name not in form]
        if missing:
            return 400, _error("invalid_request_error", "parameter_missing", f"Missing {missing}")
        unit = int(form["line_items[0][price_data][unit_amount]"])
        quantity = int(form.get("line_items[0][quantity]", "1"))
        session_id = f"cs_test_{secrets.token_hex(12)}"
        metadata = {
            k.removeprefix("metadata[").removesuffix("]"): v
            for k, v in form.items()
            if k.startswith("metadata[")
        }
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "amount_total": unit * quantity,
            "currency": form.get("line_items[0][price_data][currency]"),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "livemode": False,
        }
        self.sessions[session_id] = session
        return 200, session

    def _create_transfer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        destination = form.get("destination", "")
        if destination not in self.connected_accounts:
            message = f"No such destination: '{destination}'"
            return 400, _error("invalid_request_error", "resource_missing", message)
        transfer_id = f"tr_{secrets.token_hex(12)}"
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": int(form["amount"]),
            "currency": form.get("currency"),
            "destination": destination,
            "metadata": {
                k.removeprefix("metadata[").removesuffix("]"): v
                for k, v in form.items()
                if k.startswith("metadata[")
            },
            "livemode": False,
        }
        self.transfers[transfer_id] = transfer
        return 200, transfer


def _error(kind: str, code: str | None, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": message}}


class _Started:
    def __init__(self, task_status: trio.TaskStatus[str]) -> None:
        self._task_status = task_status

    def started(self, binds: list[str] | None = None) -> None:
        self._task_status.started((binds or [""])[0])


async def _serve(fake: FakeStripe, shutdown: trio.Event, task_status: trio.TaskStatus[str]) -> None:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    await serve(fake, config, shutdown_trigger=shutdown.wait, task_status=_Started(task_status))


@asynccontextmanager
async def running_fake_stripe() -> AsyncIterator[FakeStripe]:
    """A FakeStripe listening on an ephemeral port until the block exits."""
    fake = FakeStripe()
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        fake.base_url = await nursery.start(_serve, fake, shutdown)
        try:
            yield fake
        finally:
            shutdown.set()
