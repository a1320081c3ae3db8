"""Random crash/stop/start sequences keep the tree consistent and leak nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchyard.runtime import (
    ActorStopped,
    ActorSystem,
    ChildExists,
    ChildSpec,
    Restart,
    StartChild,
    StopChild,
    Strategy,
    Supervisor,
    WhichChildren,
)

from ..polling import wait_until
from .toys import Add, Crash, Exit, Get, counter

NAMES = ["a", "b", "c", "d"]
RESTARTS = [Restart.PERMANENT, Restart.TRANSIENT, Restart.TEMPORARY]

ops = st.lists(
    st.tuples(
        st.sampled_from(["start", "stop", "crash", "exit", "add"]),
        st.sampled_from(NAMES),
        st.sampled_from(RESTARTS),
    ),
    max_size=25,
)


def walk(node: dict) -> list[dict]:
    out = [node]
    for child in node["children"]:
        out.extend(walk(child))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=st.sampled_from(list(Strategy)), sequence=ops)
async def test_random_sequences_keep_tree_consistent(strategy: Strategy, sequence: list) -> None:
    def sup() -> Supervisor:
        return Supervisor(strategy, max_restarts=1000, window_s=1, backoff_max=0.01)

    async with ActorSystem.open([ChildSpec("sup", sup)], shutdown_timeout=5) as system:
        sup_ref = system.lookup("sup")
        for op, name, restart in sequence:
            path = f"/root/sup/{name}"
            if op == "start":
                try:
                    await sup_ref.ask(StartChild(ChildSpec(name, counter(name), restart=restart)))
                except ChildExists:
                    pass
            elif op == "stop":
                await sup_ref.ask(StopChild(name))
            else:
                try:
                    ref = system.lookup(path)
                except LookupError:
                    continue
                msg = {"crash": Crash(), "exit": Exit(), "add": Add(1)}[op]
                ref.tell(msg)
            # Let restarts settle, then the supervisor's view and the tree must agree.
            children = await sup_ref.ask(WhichChildren())
            for child in children:
                try:
                    await system.lookup(f"/root/sup/{child}").ask(Get())
                except (ActorStopped, LookupError):
                    pass  # it exited or crashed for good just now
            children = await sup_ref.ask(WhichChildren())
            await wait_until(
                lambda children=children: (
                    sorted(c["path"] for c in walk(system.snapshot()["tree"])[2:])
                    == sorted(f"/root/sup/{c}" for c in children)
                )
            )
            snap = system.snapshot()
            nodes = walk(snap["tree"])
            assert snap["totals"]["actors"] == len(nodes)
            assert all(n["status"] in ("running", "restarting", "starting") for n in nodes)
    assert system.task_count() == 0
    assert system.snapshot()["totals"]["actors"] == 0
