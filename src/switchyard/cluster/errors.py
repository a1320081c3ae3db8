"""Errors of the cluster transport (what callers catch; nothing of nats leaks out)."""

from __future__ import annotations


class TransportError(Exception):
    """Base class of every error the cluster transport raises on purpose."""


class TransportUnavailable(TransportError, ConnectionError):
    """NATS cannot take the operation now: disconnected, closed, no responders, or full.

    A `ConnectionError`, so code that knows only builtin errors (runtime/remote.py)
    can tell it apart from a timeout."""


class TransportTimeout(TransportError, TimeoutError):
    """No answer within the operation's timeout (a request, or a JetStream call)."""


class MessageTooLarge(TransportError, ValueError):
    """A payload is over the server's max_payload; it was not sent (a caller's bug)."""


class KeyValueConflict(TransportError):
    """A KV create found the key present, or an update found a newer revision."""


class ObjectTooLarge(TransportError):
    """A stored object is over the size its reader accepts (it was not read)."""
