"""What a consumer request produces: batches of deltas, how it finished, and its result.

- `Output`: one batch of deltas for the consumer (the fields of OpenAI chunk choices, as
  the provider relayed them, stop sequences applied); the last one carries a `Final`.
- `Final`: how the output ended: each choice's finish reason, usage and stop sequence, or
  the error to show (a provider that failed after output began).
- `Result`: the record of a finished request, computed once when it ends, from which the
  settlement, the rate-limit refund, the metrics and the access log line are all taken.
- `outcome_of`: the one rule naming how a request ended (usage rows, access log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..actors.provider_messages import StreamEnd
from ..protocol.errors import ApiError
from ..protocol.vocabulary import Outcome


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one request (satisfies `protocol.chat.TokenUsage`); the details
    are the upstream's, when it reported them."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Final:
    """How the output ended: normally (`error` None), or with a provider failure.

    `finish_reasons[i]` ends choice i (`finish_reason` is choice 0's).
    """

    finish_reasons: tuple[str, ...]
    usage: Usage
    stop_sequence: str | None = None
    error: ApiError | None = None

    @property
    def finish_reason(self) -> str:
        """Choice 0's finish reason."""
        return self.finish_reasons[0]


@dataclass(slots=True)
class Output:
    """A batch of output deltas (in order); `final` is set on the last batch."""

    deltas: list[dict[str, Any]] = field(default_factory=list)
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
