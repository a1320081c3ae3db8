"""Supervisor strategies, restart types, intensity, back-off and dynamic children."""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel

from switchyard.runtime import (
    ActorSystem,
    ChildExists,
    ChildSpec,
    Restart,
    RootSupervisorFailed,
    StartChild,
    StopChild,
    Strategy,
    Supervisor,
    WhichChildren,
)

from ..polling import wait_until
from .toys import Add, Crash, Exit, Get, Journal, counter


def three(journal: Journal, restart: Restart = Restart.PERMANENT) -> list[ChildSpec]:
    return [ChildSpec(n, counter(n, journal), restart=restart) for n in ("a", "b", "c")]


def sup_spec(strategy: Strategy, children: list[ChildSpec], **kw: float) -> ChildSpec:
    return ChildSpec("sup", lambda: Supervisor(strategy, children=children, **kw))  # type: ignore[arg-type]


async def crash_and_settle(system: ActorSystem, name: str, journal: Journal, starts: int) -> None:
    system.lookup(name).tell(Crash())
    await wait_until(lambda: len(journal.starts()) == starts)
    for n in ("a", "b", "c"):
        await system.lookup(n).ask(Get())


@pytest.mark.parametrize(
    ("strategy", "stopped", "restarted"),
    [
        (Strategy.ONE_FOR_ONE, ["b"], ["b"]),
        (Strategy.ONE_FOR_ALL, ["b", "c", "a"], ["a", "b", "c"]),
        (Strategy.REST_FOR_ONE, ["b", "c"], ["b", "c"]),
    ],
)
async def test_strategy_restarts_right_children_in_right_order(
    strategy: Strategy, stopped: list[str], restarted: list[str]
) -> None:
    journal = Journal()
    async with ActorSystem.open([sup_spec(strategy, three(journal))]) as system:
        await wait_until(lambda: len(journal.starts()) == 3)
        for n in ("a", "b", "c"):
            await system.lookup(n).ask(Add(1))
        journal.events.clear()
        await crash_and_settle(system, "b", journal, len(restarted))
        # The failed child stops first (it crashed), then the others in reverse start order.
        assert journal.stops() == stopped
        assert journal.starts() == restarted
        totals = {n: await system.lookup(n).ask(Get()) for n in ("a", "b", "c")}
        assert totals == {n: (0 if n in restarted else 1) for n in ("a", "b", "c")}


async def test_intensity_exceeded_escalates_to_parent() -> None:
    journal = Journal()
    inner = sup_spec(Strategy.ONE_FOR_ONE, three(journal), max_restarts=2, window_s=60)
    async with ActorSystem.open([inner], max_restarts=5) as system:
        await wait_until(lambda: len(journal.starts()) == 3)
        sup_path, child_path = "/root/sup", "/root/sup/a"
        for allowed in (1, 2):  # within the supervisor's intensity: the child is restarted
            system.lookup("a").tell(Crash())
            await wait_until(lambda n=allowed: _running_after_restarts(system, child_path, n))
        assert _restarts(system, sup_path) == 0
        system.lookup("a").tell(Crash())  # one restart too many: the supervisor gives up
        await wait_until(lambda: _restarts(system, sup_path) == 1)
        node = _node(system, sup_path)
        assert node["last_error"]["type"] == "RestartIntensityExceeded"
        # The restarted supervisor started its children afresh, reachable by the same names.
        await wait_until(lambda: _node(system, sup_path)["status"] == "running")
        assert await system.lookup("a").ask(Get()) == 0


async def test_root_intensity_exceeded_fails_the_system() -> None:
    with pytest.RaisesGroup(RootSupervisorFailed, flatten_subgroups=True):
        async with ActorSystem.open([ChildSpec("a", counter("a"))], max_restarts=1) as system:
            ref = system.lookup("a")
            ref.tell(Crash())
            await wait_until(lambda: _running_after_restarts(system, "/root/a", 1))
            ref.tell(Crash())  # the root's second restart in its window: the system fails
            await trio.sleep_forever()


@pytest.mark.parametrize(
    ("restart", "after_exit", "after_crash"),
    [
        (Restart.PERMANENT, True, True),
        (Restart.TRANSIENT, False, True),
        (Restart.TEMPORARY, False, False),
    ],
)
async def test_restart_types(restart: Restart, after_exit: bool, after_crash: bool) -> None:
    for message, expect_alive in ((Exit(), after_exit), (Crash(), after_crash)):
        async with ActorSystem.open([ChildSpec("a", counter("a"), restart=restart)]) as system:
            ref = system.lookup("a")
            ref.tell(message)
            if expect_alive:
                assert await ref.ask(Get()) == 0
                assert _node(system, "/root/a")["restarts"] == 1
            else:
                await wait_until(lambda ref=ref: not ref.alive)
                with pytest.raises(LookupError):
                    system.lookup("a")


async def test_start_and_stop_child_at_run_time() -> None:
    journal = Journal()
    async with ActorSystem.open() as system:
        root = system.lookup("/root")
        ref = await system.spawn(ChildSpec("x", counter("x", journal)))
        assert await ref.ask(Add(2)) == 2
        with pytest.raises(ChildExists):
            await system.spawn(ChildSpec("x", counter("x", journal)))
        assert await root.ask(WhichChildren()) == ["x"]
        ref.tell(Add(3))  # queued before the stop: drained, not dropped
        assert await root.ask(StopChild("x")) is True
        assert not ref.alive and journal.stops() == ["x"]
        assert await root.ask(StopChild("x")) is False
        assert await root.ask(WhichChildren()) == []
        again = await root.ask(StartChild(ChildSpec("x", counter("x", journal))))
        assert await again.ask(Get()) == 0


async def test_crash_loop_backs_off() -> None:
    spec = sup_spec(
        Strategy.ONE_FOR_ONE,
        [ChildSpec("a", counter("a"))],
        max_restarts=100,
        window_s=60,
        backoff_base=0.05,
        backoff_max=0.2,
    )
    async with ActorSystem.open([spec]) as system:
        ref = system.lookup("a")
        for _ in range(4):
            ref.tell(Crash())
            await trio.lowlevel.checkpoint()
        # Restarts 2..4 each wait longer; meanwhile the child shows as restarting.
        await wait_until(lambda: _node(system, "/root/sup/a")["status"] == "restarting")
        await wait_until(lambda: _restarts(system, "/root/sup/a") == 4)
        assert await ref.ask(Get()) == 0


def _node(system: ActorSystem, path: str) -> dict:
    stack = [system.snapshot()["tree"]]
    while stack:
        node = stack.pop()
        if node["path"] == path:
            return node
        stack.extend(node["children"])
    raise LookupError(path)


def _restarts(system: ActorSystem, path: str) -> int:
    return _node(system, path)["restarts"]


def _running_after_restarts(system: ActorSystem, path: str, restarts: int) -> bool:
    node = _node(system, path)
    return node["restarts"] == restarts and node["status"] == "running"


async def test_a_child_killed_while_backing_off_does_not_hold_up_its_supervisor() -> None:
    """A restart kills the siblings it restarts; one still waiting out its back-off delay
    must die at once. It used to start after the delay and run on, so the supervisor
    waited for it forever and the crashed child was never restarted."""
    journal = Journal()
    spec = sup_spec(Strategy.REST_FOR_ONE, three(journal), backoff_base=30.0, backoff_max=30.0)
    async with ActorSystem.open([spec], shutdown_timeout=1) as system:
        await wait_until(lambda: len(journal.starts()) == 3)
        await crash_and_settle(system, "b", journal, 5)  # b and c restart, no back-off yet
        system.lookup("b").tell(Crash())  # again within the window: b and c back off 30 s
        await wait_until(lambda: system.lookup("c")._cell.status == "restarting")
        system.lookup("a").tell(Crash())  # restarts a, b, c: b and c are killed mid-delay
        with trio.fail_after(5):
            assert await system.lookup("a").ask(Get()) == 0  # a was restarted
