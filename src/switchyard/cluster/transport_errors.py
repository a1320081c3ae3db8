"""nats-py's errors as the cluster transport's own (`errors.py`): a conflicting KV write
is `KeyValueConflict`, a timeout `TransportTimeout`, a lost or refusing server
`TransportUnavailable`, anything else nats-py raises `TransportError`, so no nats-py
exception ever reaches a caller of the transport."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from .errors import KeyValueConflict, TransportError, TransportTimeout, TransportUnavailable


@contextmanager
def translated_errors() -> Iterator[None]:
    """Raise nats-py's errors inside as TransportError subclasses (see the module)."""
    try:
        yield
    except nats.js.errors.KeyWrongLastSequenceError as exc:
        raise KeyValueConflict(str(exc)) from exc
    except (TimeoutError, nats.errors.TimeoutError) as exc:
        raise TransportTimeout(str(exc) or "NATS timeout") from exc
    except nats.js.errors.ServiceUnavailableError as exc:
        raise TransportUnavailable(f"JetStream unavailable: {exc}") from exc
    except nats.js.errors.APIError as exc:
        raise TransportError(f"JetStream: {exc}") from exc
    except (
        nats.errors.NoRespondersError,
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.ConnectionDrainingError,
        nats.errors.OutboundBufferLimitError,
        nats.errors.StaleConnectionError,
        OSError,
    ) as exc:
        raise TransportUnavailable(f"NATS: {exc!r}") from exc
    except nats.errors.Error as exc:  # any other nats-py error (e.g. NoStreamResponseError)
        raise TransportError(f"NATS: {exc!r}") from exc
