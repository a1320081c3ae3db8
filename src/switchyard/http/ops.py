"""Operations endpoints: `/healthz` (process up; names the replica) and `/readyz` (store
and scheduler answer)."""

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
    if problems:
        return jsonify({"status": "unavailable", "problems": problems}), 503
    return jsonify({"status": "ready"}), 200
