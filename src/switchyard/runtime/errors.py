"""Exceptions raised by the actor runtime."""

from __future__ import annotations


class RuntimeErrorBase(Exception):
    """Base class of every error the runtime raises on purpose."""


class Refusal(RuntimeErrorBase):
    """An expected "no" from a handler: re-raised at the asker, does NOT crash the actor.

    Subclass it for answers such as "already exists" or "no capacity"; any other
    exception escaping a handler is a crash.
    """


class MailboxFull(RuntimeErrorBase):
    """`tell` found the target's bounded mailbox full; the message was not delivered."""

    def __init__(self, path: str, capacity: int) -> None:
        super().__init__(f"mailbox of {path} is full ({capacity} messages)")
        self.path = path
        self.capacity = capacity


class AskTimeout(RuntimeErrorBase):
    """No reply arrived within the `ask` timeout."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(f"no reply from {path} within {timeout:g}s")
        self.path = path
        self.timeout = timeout


class ActorStopped(RuntimeErrorBase):
    """The target actor is stopped for good (or stopped while holding the request)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"actor {path} is stopped")
        self.path = path


class UnhandledMessage(RuntimeErrorBase, TypeError):
    """An actor received a message type it does not handle."""


class ChildExists(Refusal):
    """`start_child` named a child that is already running under that supervisor."""


class RestartIntensityExceeded(RuntimeErrorBase):
    """A supervisor saw more restarts than `max_restarts` within `window_s`; it gives up."""


class RootSupervisorFailed(RuntimeErrorBase):
    """The root supervisor crashed: the whole actor system has stopped."""
