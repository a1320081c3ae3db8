"""Messages of the provider actor: frames in, commands, and what flows to consumers.

Inbound frames arrive as the protocol's pydantic frames, except `chunk` and `chunk_batch`,
which arrive as `ChunkIn` and `ChunkBatchIn` (decoded by `protocol/chunk_codec.py`, which
checks the common shape by hand so the per-token path skips pydantic). What the
actor hands a consumer's stream channel is `StreamChunk` items then one `StreamEnd`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from ..protocol.vocabulary import RequestKind
from .scheduler_messages import Reservation, Reserve

#: Where provider actors live in the supervision tree.
PROVIDERS_PATH = "/root/providers"


@dataclass(slots=True)
class StreamChunk:
    """Deltas relayed to the consumer; `tokens` counts those that relay a token
    (`protocol.chat.count_tokens`)."""

    deltas: list[dict[str, Any]]
    tokens: int


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last item of a stream: a usage report, or an error (`retryable` if nothing was sent)."""

    finish_reason: str | None = None
    stop_sequence: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    error_code: str | None = None
    error_message: str = ""
    retryable: bool = False
    status: int | None = None  # the upstream refused the request itself with this 4xx

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True)
class Dispatch:
    """Send a request to this provider; its stream comes back on `stream`.

    `body_json` is the normalized request's wire JSON (`frames.dump_request_body`),
    serialized and size-checked once for all attempts. `remote` is set when the slot is
    on another replica (the grant and what was asked, for the owner to confirm); a local
    provider actor ignores it.
    """

    request_id: str
    model: str
    body_json: str
    deadline_unix: float
    stream: trio.MemorySendChannel[StreamChunk | StreamEnd] = field(repr=False)
    kind: RequestKind = RequestKind.CHAT
    remote: tuple[Reservation, Reserve] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Cancel:
    """The consumer went away: tell the provider to stop `request_id`."""

    request_id: str


@dataclass(frozen=True)
class Drain:
    """Finish in-flight work, take no more, then disconnect."""


@dataclass(frozen=True)
class Disconnect:
    """Close the socket now (admin or shutdown)."""

    code: int
    reason: str


@dataclass(frozen=True)
class CloseSocket:
    """Outbound sentinel: send a protocol_error (if code ≥ 4000) then close with `code`."""

    code: int
    reason: str


@dataclass(frozen=True)
class Tick:
    """Periodic self-message: heartbeat watchdog. `due` is the trio time it was meant to be
    handled; how much later it is handled measures how far behind the coordinator runs."""

    due: float


@dataclass(frozen=True)
class ChallengeDue:
    """Self-message: time to issue a challenge."""


@dataclass(frozen=True)
class ChallengeExpired:
    """Self-message: the deadline of `nonce` passed."""

    nonce: str


@dataclass(frozen=True)
class PushCapacity:
    """Re-send capacity to the scheduler (e.g. after the scheduler restarted)."""
