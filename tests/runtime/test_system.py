"""ActorSystem: lookup, snapshot, dead letters and graceful shutdown."""

from __future__ import annotations

import json

import pytest

from switchyard.runtime import ActorSystem, ChildSpec, Strategy, Supervisor

from ..polling import wait_until
from .toys import Add, Crash, Get, Journal, Sleep, counter


def tree(journal: Journal) -> list[ChildSpec]:
    workers = [ChildSpec(n, counter(n, journal)) for n in ("w1", "w2")]
    return [
        ChildSpec("alone", counter("alone", journal)),
        ChildSpec("pool", lambda: Supervisor(Strategy.ONE_FOR_ALL, children=workers)),
    ]


async def test_lookup_by_name_and_path() -> None:
    async with ActorSystem.open(tree(Journal())) as system:
        assert system.lookup("w1") == system.lookup("/root/pool/w1")
        with pytest.raises(LookupError):
            system.lookup("nobody")
        with pytest.raises(LookupError):
            system.lookup("/root/nowhere")


async def test_snapshot_contents() -> None:
    async with ActorSystem.open(tree(Journal())) as system:
        await system.lookup("w1").ask(Add(7))
        system.lookup("alone").tell(Crash("on purpose"))
        await wait_until(lambda: system.snapshot()["totals"]["restarts"] == 1)
        await system.lookup("alone").ask(Get())
        snap = json.loads(json.dumps(system.snapshot()))  # JSON-serialisable
        root = snap["tree"]
        assert root["path"] == "/root" and root["class"] == "Supervisor"
        assert [c["path"] for c in root["children"]] == ["/root/alone", "/root/pool"]
        alone, pool = root["children"]
        assert alone["restarts"] == 1
        assert alone["last_error"]["type"] == "ValueError"
        assert alone["last_error"]["message"] == "on purpose"
        assert alone["last_error"]["at"] > 0
        assert alone["status"] == "running" and alone["uptime_s"] >= 0
        assert alone["mailbox"]["capacity"] == 1024
        assert pool["state"]["strategy"] == "one_for_all"
        w1 = pool["children"][0]
        assert w1["class"] == "Counter" and w1["state"] == {"total": 7} and w1["handled"] == 1
        assert snap["totals"] == {"actors": 5, "restarts": 1, "dead_letters": 0}


async def test_shutdown_drains_queued_messages_then_stops_every_task() -> None:
    journal = Journal()
    async with ActorSystem.open(tree(journal), shutdown_timeout=5) as system:
        refs = {n: system.lookup(n) for n in ("alone", "w1", "w2")}
        refs["w1"].tell(Sleep(0.05))
        for ref in refs.values():
            for _ in range(50):
                ref.tell(Add(1))
        assert system.task_count() > 0
    # Every queued message was handled before its actor stopped.
    assert all(getattr(ref._cell, "handled", 0) >= 50 for ref in refs.values())
    assert system.task_count() == 0
    assert not any(ref.alive for ref in refs.values())
    # Children stop before their supervisor, younger siblings first.
    assert journal.stops() == ["w2", "w1", "alone"]
    assert system.snapshot()["totals"]["actors"] == 0


async def test_shutdown_timeout_cancels_stuck_actors() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))], shutdown_timeout=0.1) as system:
        system.lookup("c").tell(Sleep(60))
        # The actor has taken Sleep off its mailbox: it is stuck in the handler.
        await wait_until(lambda: system.snapshot()["tree"]["children"][0]["mailbox"]["depth"] == 0)
    assert system.task_count() == 0
    assert system.root.closed and system.snapshot()["totals"]["actors"] == 0


async def test_messages_after_stop_are_dead_letters() -> None:
    async with ActorSystem.open([ChildSpec("c", counter("c"))]) as system:
        ref = system.lookup("c")
        await system.stop("/root/c")
        ref.tell(Add(1))
        ref.tell(Add(1))
        assert system.dead_letters == 2
