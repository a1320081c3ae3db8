"""KeyBatches without NATS: concurrent waiters of a key are decided in one batch, keys are
independent, errors reach every waiter of the batch, an abandoned waiter is seen by the
settle hook, and joining while not running is TransportUnavailable."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import trio

from switchyard.cluster.errors import TransportTimeout, TransportUnavailable
from switchyard.cluster.key_batches import BatchWaiter, KeyBatches

from ..polling import wait_until


@dataclass
class Ask(BatchWaiter):
    n: int = 0
    answer: int | None = field(default=None, init=False)


async def test_waiters_of_a_key_are_decided_together_and_errors_reach_them() -> None:
    batches: list[tuple[str, list[int]]] = []
    gate = trio.Event()

    async def decide(key: str, batch: list[Ask]) -> None:
        batches.append((key, [w.n for w in batch]))
        await gate.wait()
        if key == "bad":
            raise TransportTimeout("kv timed out")
        if key == "odd":
            raise RuntimeError("an unmapped client error")
        for w in batch:
            w.answer = w.n * 10

    answers: dict[int, object] = {}

    async def ask(key: str, n: int) -> None:
        try:
            answers[n] = (await batches_.join(key, Ask(n=n))).answer
        except Exception as exc:
            answers[n] = type(exc)

    batches_ = KeyBatches("test batches", decide)
    async with trio.open_nursery() as nursery:
        await nursery.start(batches_.run)
        nursery.start_soon(ask, "k", 1)
        await wait_until(lambda: batches == [("k", [1])])
        for n, key in ((2, "k"), (3, "k"), (4, "bad"), (5, "odd")):
            nursery.start_soon(ask, key, n)
        await wait_until(lambda: len(batches) == 3)
        gate.set()
        await wait_until(lambda: len(answers) == 5)
        nursery.cancel_scope.cancel()
    assert batches[0] == ("k", [1])  # then one batch per key (trio starts tasks in any order)
    assert sorted((key, sorted(ns)) for key, ns in batches[1:]) == [
        ("bad", [4]), ("k", [2, 3]), ("odd", [5])
    ]  # fmt: skip
    assert answers == {1: 10, 2: 20, 3: 30, 4: TransportTimeout, 5: TransportUnavailable}


async def test_an_abandoned_waiter_is_settled_and_shutdown_fails_the_rest() -> None:
    settled: list[tuple[int, bool]] = []
    gate = trio.Event()

    async def decide(key: str, batch: list[Ask]) -> None:
        await gate.wait()
        for w in batch:
            w.answer = w.n

    batches = KeyBatches("test batches", decide, lambda _k, w: settled.append((w.n, w.abandoned)))
    with pytest.raises(TransportUnavailable):
        await batches.join("k", Ask(n=0))  # not running
    failures: list[BaseException] = []
    async with trio.open_nursery() as outer:
        runner = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with runner:
                await batches.run(task_status=task_status)

        await outer.start(run)
        outer.start_soon(batches.join, "k", Ask(n=1))
        await trio.sleep(0.05)
        scopes: list[trio.CancelScope] = []

        async def abandoned() -> None:
            with trio.CancelScope() as scope:
                scopes.append(scope)
                await batches.join("k", Ask(n=2))

        outer.start_soon(abandoned)
        await wait_until(lambda: scopes)
        await trio.sleep(0.05)
        scopes[0].cancel()  # n=2 gives up while n=1's batch is being decided
        gate.set()
        await wait_until(lambda: len(settled) == 2)

        joined: list[bool] = []

        async def late() -> None:
            try:
                joined.append(True)  # join queues it before its first checkpoint
                await batches.join("j", Ask(n=3))
            except TransportUnavailable as exc:
                failures.append(exc)

        gate = trio.Event()  # the next batch never ends: shutdown answers it
        outer.start_soon(late)
        await wait_until(lambda: joined)
        runner.cancel()  # the batches stop under a waiting caller: it is told so
    assert sorted(settled) == [(1, False), (2, True)]
    assert len(failures) == 1 and "stopped" in str(failures[0])
