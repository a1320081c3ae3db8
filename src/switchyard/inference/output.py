"""What a consumer request produces: batches of text, how it finished, and its result.

- `Output`: one batch of text for the consumer; the last one carries a `Final`.
- `Final`: how the output ended: finish reason, usage and stop sequence, or the error
  to show (a provider that failed after output began).
- `Result`: the record of a finished request, computed once when it ends, from which the
  settlement, the rate-limit refund, the metrics and the access log line are all taken.
- `outcome_of`: the one rule naming how a request ended (usage rows, access log).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..actors.provider_messages import StreamEnd
from ..protocol.errors import ApiError
from ..protocol.vocabulary import Outcome

#: A consumer that stopped reading its stream, which was ended for it.


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one request (satisfies `protocol.chat.TokenUsage`)."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Final:
    """How the output ended: normally (`error` None), or with a provider failure."""

    finish_reason: str
    usage: Usage
    stop_sequence: str | None = None
    error: ApiError | None = None


@dataclass(slots=True)
class Output:
    """A batch of output text (pieces in order); `final` is set on the last batch."""

    texts: list[str] = field(default_factory=list)
    final: Final | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """A finished request, as settled, refunded, measured and logged (see module doc)."""

    outcome: str
    usage: Usage  # the provider's report when it sent one, else estimated and relayed
    relayed_tokens: int
    end: StreamEnd | None  # the provider's end of the stream, if one came
    provider_id: str | None
    attempts: int
    ttft_s: float | None
    duration_s: float


def outcome_of(end: StreamEnd | None, error: BaseException | None, override: str | None) -> str:
    """How a request ended: `override` if set (e.g. too slow), `http_<status>` for an
    error answer, else from the provider's end (`cancelled` when none came)."""
    if override is not None:
        return override
    if isinstance(error, ApiError):
        return Outcome.http(error.status)
    if end is None:
        return Outcome.CANCELLED
    return Outcome.OK if end.ok else (end.error_code or Outcome.ERROR)
