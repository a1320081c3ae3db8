"""Generic supervised actor runtime on trio (knows nothing of the domain).

Actors and messages:
- actor.py       Actor base class, ActorRef (tell/send/tell_or_send/ask), Reply slots, Ask
- cell.py        ActorCell: an actor's mailbox, stats and run loop; survives restarts
- errors.py      MailboxFull, AskTimeout, ActorStopped and the other runtime errors

Supervision and the system:
- supervisor.py  Supervisor, ChildSpec, Strategy, Restart; intensity and back-off
- system.py      ActorSystem: root supervisor, name registry, dead letters, shutdown
- inspect.py     snapshot() of the tree for the inspection endpoint

Across systems:
- remote.py      RemoteEndpoint and RemoteRef: tell/ask actors of another system over a
                 transport (a Protocol), with AskTimeout/ActorStopped semantics and liveness
- wire.py        MessageRegistry: the message dataclasses and errors allowed to cross (JSON)
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
from .remote import (
    AnyRef,
    Liveness,
    RemoteEndpoint,
    RemoteRef,
    RemoteTransport,
    remote_endpoint,
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
from .wire import MessageRegistry, RemoteError

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "Actor",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "AnyRef",
    "Ask",
    "AskTimeout",
    "ChildExists",
    "ChildSpec",
    "Liveness",
    "MailboxFull",
    "MessageRegistry",
    "Refusal",
    "RemoteEndpoint",
    "RemoteError",
    "RemoteRef",
    "RemoteTransport",
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
    "remote_endpoint",
]
