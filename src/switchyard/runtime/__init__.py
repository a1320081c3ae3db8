"""Generic supervised actor runtime on trio (knows nothing of the domain).

Actors and messages:
- actor.py       Actor base class, ActorRef (tell/send/ask), reply slots and envelopes
- cell.py        ActorCell: an actor's mailbox, stats and run loop; survives restarts
- errors.py      MailboxFull, AskTimeout, ActorStopped and the other runtime errors

Supervision and the system:
- supervisor.py  Supervisor, ChildSpec, Strategy, Restart; intensity and back-off
- system.py      ActorSystem: root supervisor, name registry, dead letters, shutdown
- inspect.py     snapshot() of the tree for the inspection endpoint
"""

from .actor import Actor, ActorRef
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
    "Actor",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "AskTimeout",
    "ChildExists",
    "ChildSpec",
    "MailboxFull",
    "Refusal",
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
