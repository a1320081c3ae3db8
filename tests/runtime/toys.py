"""Toy actors for the runtime tests (nothing domain-specific)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from switchyard.runtime import Actor


@dataclass
class Journal:
    """What toy actors did, recorded in order by the tests' actors."""

    events: list[tuple[str, str]] = field(default_factory=list)

    def starts(self) -> list[str]:
        return [name for kind, name in self.events if kind == "start"]

    def stops(self) -> list[str]:
        return [name for kind, name in self.events if kind == "stop"]


@dataclass(frozen=True)
class Add:
    n: int


@dataclass(frozen=True)
class Get:
    pass


@dataclass(frozen=True)
class Crash:
    reason: str = "boom"


@dataclass(frozen=True)
class Exit:
    pass


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class CrashLater:
    seconds: float


@dataclass(frozen=True)
class Park:
    """Keep the actor busy (its mailbox fills up) until `release` is set."""

    release: trio.Event


class Counter(Actor):
    """Adds numbers; replies with its total; crashes or exits on request."""

    def __init__(self, name: str = "counter", journal: Journal | None = None) -> None:
        self.name = name
        self.total = 0
        self.journal = journal

    async def on_start(self) -> None:
        if self.journal is not None:
            self.journal.events.append(("start", self.name))

    async def on_stop(self) -> None:
        if self.journal is not None:
            self.journal.events.append(("stop", self.name))

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Add(n=n):
                self.total += n
                return self.total
            case Get():
                return self.total
            case Crash(reason=reason):
                raise ValueError(reason)
            case Exit():
                self.stop()
                return "bye"
            case Sleep(seconds=seconds):
                await trio.sleep(seconds)
                return "slept"
            case Park(release=release):
                await release.wait()
                return "released"
            case CrashLater(seconds=seconds):
                self.start_task(self._crash_later, seconds)
                return "armed"
        return await super().handle(msg)

    async def _crash_later(self, seconds: float) -> None:
        await trio.sleep(seconds)
        raise RuntimeError("helper task failed")

    def describe(self) -> dict[str, Any]:
        return {"total": self.total}


def counter(name: str, journal: Journal | None = None) -> Any:
    """A factory for `ChildSpec` that builds a fresh Counter each (re)start."""
    return lambda: Counter(name, journal)
