"""Operations endpoints: `/healthz` (process up; names the replica) and `/readyz` (store
and scheduler answer).

`/readyz` answers 200 `ready`, 503 `unavailable` with its `problems`, or, in a cluster
whose NATS link is down, 200 `degraded`: the replica still serves consumers with its own
providers (a load balancer should keep sending it traffic), but it sees no other replica,
limits rates alone and misses broadcasts until NATS is back. In a cluster the answer has
`"nats": "connected" | "disconnected"`."""

from __future__ import annotations

import trio
from quart import Blueprint, Response, jsonify

from ..runtime import ActorStopped, AskTimeout
from .context import coordinator

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
async def healthz() -> Response:
    return jsonify({"status": "ok", "replica_id": coordinator().replica_id})


@ops.get("/readyz")
async def readyz() -> tuple[Response, int]:
    coord = coordinator()
    problems: list[str] = []
    with trio.move_on_after(2) as scope:
        try:
            await coord.store.ping()
        except Exception as exc:
            problems.append(f"store: {type(exc).__name__}")
    if scope.cancelled_caught:
        problems.append("store: timeout")
    from ..actors.scheduler_messages import SchedulerStats

    try:
        await coord.scheduler.ask(SchedulerStats(), timeout=2)
    except (AskTimeout, ActorStopped, LookupError):
        problems.append("scheduler: not answering")
    if not coord.system.accepting:
        problems.append("shutting down")
    nats = None if coord.cluster is None else coord.cluster.transport.connected
    cluster = {} if nats is None else {"nats": "connected" if nats else "disconnected"}
    if problems:
        return jsonify({"status": "unavailable", "problems": problems, **cluster}), 503
    if nats is False:
        problems.append("nats: disconnected (serving this replica's own providers alone)")
        return jsonify({"status": "degraded", "problems": problems, **cluster}), 200
    return jsonify({"status": "ready", **cluster}), 200
