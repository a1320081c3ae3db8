"""Generic supervised actor runtime on trio (knows nothing of the domain).

Actors and messages:
- actor.py       Actor base class, ActorRef (tell/send/tell_or_send/ask), Reply slots, Ask
- cell.py        ActorCell: an actor's mailbox, stats and run loop; survives restarts
- errors.py      MailboxFull, AskTimeout, ActorStopped and the other runtime errors

Supervision and the system:
- supervisor.py  Supervisor, ChildSpec, Strategy, Restart; intensity and back-off
- system.py      ActorSystem: root supervisor, name registry, dead letters, shutdown
- inspect.py     snapshot() of the tree for the inspection endpoint
"""

from .actor import DEFAULT_ASK_TIMEOUT, Actor, ActorRef, Ask, Reply
from .errors import (
    ActorStopped,
    AskTimeout,
    ChildExists,
    MailboxFull,
    Refusal,
    RestartIntensityExceeded,
    RootSupervisorFailed,
    UnhandledMessage,
)
from .supervisor import (
    ChildSpec,
    Restart,
    StartChild,
    StopChild,
    Strategy,
    Supervisor,
    WhichChildren,
)
from .system import ActorSystem

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "Actor",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "Ask",
    "AskTimeout",
    "ChildExists",
    "ChildSpec",
    "MailboxFull",
    "Refusal",
    "Reply",
    "Restart",
    "RestartIntensityExceeded",
    "RootSupervisorFailed",
    "StartChild",
    "StopChild",
    "Strategy",
    "Supervisor",
    "UnhandledMessage",
    "WhichChildren",
]
