"""ReplicaCalls: admin calls that reach every replica, and change broadcasts.

Two kinds of traffic, both JSON on NATS:

- **calls** (request/reply): `ask_all(op, args)` asks every other live replica at once on
  `<cluster>.replica.<id>.call`, waits at most `timeout` (1 s) for each, and returns the
  answers plus the replicas that did not answer (never hangs on a dead or slow one).
  Each replica serves the calls in `handlers` (op name -> async function of the args
  returning a JSON object); an unknown op or bad body is answered `{"error": ...}`.
  Used for cluster-wide admin views and for actions on the replica that owns a provider's
  connection (drain, disconnect, token revocation).
- **changes** (publish, no reply): `publish_change(kind, **fields)` on
  `<cluster>.state.changed`; every replica (the publisher included) runs its
  `on_change[kind]` callbacks, which drop caches (API keys, prices), so a revocation or a
  price change is effective everywhere within milliseconds of the store write.

While NATS is away changes are lost (the caches still expire on their own TTLs: API keys
2 s, prices 5 s) and calls answer nothing (`unanswered` lists every peer).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from .errors import TransportError
from .membership import Membership
from .transport import Message, Transport

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 1.0
MAX_CONCURRENT_CALLS = 32  # calls this replica serves at once (more wait in the channel)
MAX_CALL_BYTES = 256 * 1024  # an argument body larger than this is refused

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
ChangeListener = Callable[[dict[str, Any]], None]


@dataclass
class FanOut:
    """Answers of the other live replicas (by id) and the ids that did not answer."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)


class ReplicaCalls:
    """See the module docstring; `run()` serves calls and changes until cancelled."""

    def __init__(
        self,
        transport: Transport,
        membership: Membership,
        handlers: dict[str, Handler],
        on_change: dict[str, list[ChangeListener]] | None = None,
    ) -> None:
        self.transport = transport
        self.membership = membership
        self.replica_id = membership.replica_id
        self.handlers = handlers
        self.on_change = on_change or {}
        self.served = 0
        self.changes_seen = 0
        self._calls = transport.subject("replica", self.replica_id, "call")
        self._changes = transport.subject("state", "changed")

    # -- asking ------------------------------------------------------------------------

    async def ask_all(
        self, op: str, args: dict[str, Any] | None = None, *, timeout: float = CALL_TIMEOUT_S
    ) -> FanOut:
        """Ask every other live replica; see the module docstring."""
        body = json.dumps({"op": op, "args": args or {}}).encode()
        peers = [r.replica_id for r in self.membership.live_replicas()]
        result = FanOut()

        async def ask(peer: str) -> None:
            subject = self.transport.subject("replica", peer, "call")
            try:
                raw = await self.transport.request(subject, body, timeout=timeout)
                answer = json.loads(raw)
                if not isinstance(answer, dict) or "error" in answer:
                    raise ValueError(f"bad answer {str(answer)[:200]}")
            except (TransportError, ValueError) as exc:
                log.info("replica %s did not answer %s: %s", peer, op, exc)
                result.unanswered.append(peer)
                return
            result.answers[peer] = answer

        async with trio.open_nursery() as nursery:
            for peer in peers:
                if peer != self.replica_id:
                    nursery.start_soon(ask, peer)
        result.unanswered.sort()
        return result

    def publish_change(self, kind: str, **fields: Any) -> None:
        """Tell every replica (this one included) that something changed; never blocks."""
        self.transport.publish(self._changes, json.dumps({"kind": kind, **fields}).encode())

    # -- serving -----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        slots = trio.Semaphore(MAX_CONCURRENT_CALLS)
        async with (
            self.transport.subscribe(self._calls) as calls,
            self.transport.subscribe(self._changes) as changes,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(self._changes_loop, changes)
            task_status.started()
            async for message in calls:
                await slots.acquire()
                nursery.start_soon(self._serve, message, slots)

    async def _serve(self, message: Message, slots: trio.Semaphore) -> None:
        try:
            answer = await self._answer(message.data)
            if message.reply is not None:
                self.transport.reply(message, json.dumps(answer).encode())
            self.served += 1
        finally:
            slots.release()

    async def _answer(self, data: bytes) -> dict[str, Any]:
        if len(data) > MAX_CALL_BYTES:
            return {"error": "call too large"}
        try:
            call = json.loads(data)
            op, args = call["op"], call.get("args", {})
            if not isinstance(op, str) or not isinstance(args, dict):
                raise TypeError("op must be a string and args an object")
        except (ValueError, KeyError, TypeError) as exc:
            return {"error": f"malformed call: {exc}"}
        handler = self.handlers.get(op)
        if handler is None:
            return {"error": f"unknown op {op[:64]!r}"}
        try:
            return await handler(args)
        except (KeyError, TypeError, ValueError) as exc:
            return {"error": f"bad arguments for {op}: {exc}"}
        except Exception:  # a failing call is answered, never takes the replica down
            log.exception("cluster call %s failed", op)
            return {"error": f"{op} failed"}

    async def _changes_loop(self, changes: trio.MemoryReceiveChannel[Message]) -> None:
        async for message in changes:
            try:
                change = json.loads(message.data)
                kind = change["kind"]
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a malformed change broadcast")
                continue
            self.changes_seen += 1
            for listener in self.on_change.get(kind, []) if isinstance(kind, str) else []:
                try:
                    listener(change)
                except Exception:
                    log.exception("change %s: a listener failed", kind)
