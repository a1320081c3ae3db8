"""The project's fixed words: trust levels, request outcomes and error codes, as `StrEnum`s.

Each member *is* its wire string (`Trust.HARDWARE == "hardware"`), so JSON, metrics labels,
usage rows and frames carry exactly the strings they always did; code names the member
instead of repeating the literal.

- `Trust`: a provider's trust, ordered `untrusted < self_signed < hardware` (comparisons
  between members go by `rank`, never alphabetically); `Trust.parse` is the one parser.
- `ProviderStatus`: a connected provider's state, as the admin API and metrics show it.
- `Capability` and `Support`: what a provider model can do (tools, vision, ...) and how
  sure it is (yes / no / unknown), as its `register` frame advertises them.
- `Outcome`: how a request or a slot ended (usage rows, `Release`, metrics). A request that
  ended on a provider's error frame records that frame's code instead, and one refused at
  the HTTP layer records `Outcome.http(status)` (`"http_429"`).
- `ApiErrorCode`: the `code` of a consumer-facing error body (`protocol/errors.py`).
- `RequestKind`: which API an `inference_request` body is for (`kind`).
- `StreamErrorCode`: the `code` of a provider `error` frame, and of the end of a stream the
  coordinator cuts short itself. A peer may send any code; these are the ones we produce.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Trust(StrEnum):
    """Provider trust level; the value is the wire name, `rank` orders the levels."""

    rank: int

    UNTRUSTED = "untrusted"
    SELF_SIGNED = "self_signed"
    HARDWARE = "hardware"

    @classmethod
    def parse(cls, value: str) -> Trust:
        """`Trust` from its wire name, any case (or a `Trust`); ValueError for anything else."""
        if isinstance(value, Trust):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(f"unknown trust level {value!r}") from None

    @classmethod
    def by_rank(cls, rank: int) -> Trust:
        """The level of a given `rank` (0 is `UNTRUSTED`)."""
        return _BY_RANK[rank]

    def _order(self, other: Any) -> int:
        if not isinstance(other, Trust):
            raise TypeError(f"cannot order Trust against {type(other).__name__}")
        return self.rank - other.rank

    def __lt__(self, other: Any) -> bool:
        return self._order(other) < 0

    def __le__(self, other: Any) -> bool:
        return self._order(other) <= 0

    def __gt__(self, other: Any) -> bool:
        return self._order(other) > 0

    def __ge__(self, other: Any) -> bool:
        return self._order(other) >= 0


_BY_RANK: tuple[Trust, ...] = tuple(Trust)
for _rank, _level in enumerate(_BY_RANK):
    _level.rank = _rank


class ProviderStatus(StrEnum):
    """A connected provider's state (`registering` → `online` ⇄ `untrusted`, → `draining`)."""

    REGISTERING = "registering"  # until its first challenge passes
    ONLINE = "online"
    UNTRUSTED = "untrusted"  # a challenge failed: never routed to until one passes
    DRAINING = "draining"  # finishing its requests, taking no new ones
    GONE = "gone"  # disconnected; the actor is stopping


class Capability(StrEnum):
    """A feature a request may need of a model (a provider model advertises each)."""

    TOOLS = "tools"
    VISION = "vision"
    JSON_SCHEMA = "json_schema"
    REASONING = "reasoning"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"


class Support(StrEnum):
    """Whether a provider model has a capability: only `NO` keeps requests needing it away."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str) -> Support:
        """`Support` from yes/no/unknown (also true/false, 1/0, any case); ValueError else."""
        word = str(value).strip().lower()
        word = _SUPPORT_ALIASES.get(word, word)
        try:
            return cls(word)
        except ValueError:
            raise ValueError(f"expected yes, no or unknown, got {value!r}") from None


_SUPPORT_ALIASES = {"true": "yes", "1": "yes", "false": "no", "0": "no"}


class Outcome(StrEnum):
    """How a request ended, as recorded in usage rows, `Release` and metrics."""

    OK = "ok"
    ERROR = "error"  # a provider failed it (no more specific code known)
    CANCELLED = "cancelled"  # the client went away: not the provider's fault
    CONSUMER_TOO_SLOW = "consumer_too_slow"  # the client stopped reading: cut off
    REJECTED = "rejected"  # the upstream refused the request itself (a 4xx): not its fault

    @staticmethod
    def http(status: int) -> str:
        """The outcome of a request refused with HTTP `status` before it reached a provider."""
        return f"http_{status}"


#: Outcomes that say nothing against the provider that served the request.
NEUTRAL_OUTCOMES: frozenset[str] = frozenset({Outcome.OK, Outcome.CANCELLED, Outcome.REJECTED})


class ApiErrorCode(StrEnum):
    """`code` of a consumer- or admin-facing error body."""

    INVALID_VALUE = "invalid_value"
    INVALID_JSON = "invalid_json"
    INVALID_API_KEY = "invalid_api_key"
    INVALID_ADMIN_KEY = "invalid_admin_key"
    INVALID_METRICS_TOKEN = "invalid_metrics_token"
    INSUFFICIENT_QUOTA = "insufficient_quota"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    MODEL_NOT_FOUND = "model_not_found"
    ACCOUNT_NOT_FOUND = "account_not_found"
    CONFLICT = "conflict"
    REQUEST_TOO_LARGE = "request_too_large"
    REQUEST_HEADER_TOO_LARGE = "request_header_too_large"
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    INTERNAL_ERROR = "internal_error"
    PROVIDER_ERROR = "provider_error"
    UPSTREAM_REJECTED = "upstream_rejected"  # the provider's upstream refused it (its 4xx)
    NO_CAPACITY = "no_capacity"
    BILLING_UNAVAILABLE = "billing_unavailable"
    UNSUPPORTED_CAPABILITY = "unsupported_capability"  # every provider of the model says no
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"  # max_tokens beyond the model's context
    SHUTTING_DOWN = "shutting_down"
    STORE_UNAVAILABLE = "store_unavailable"
    TIMEOUT = "timeout"
    STRIPE_NOT_CONFIGURED = "stripe_not_configured"
    STRIPE_ERROR = "stripe_error"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    INSUFFICIENT_EARNINGS = "insufficient_earnings"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    TRANSFER_FAILED = "transfer_failed"
    INVALID_SIGNATURE = "invalid_signature"  # a Stripe webhook's signature
    INVALID_PAYLOAD = "invalid_payload"  # a signed Stripe webhook that is no Stripe event
    # self-service (README, "Self-service")
    INVITE_CODE_INVALID = "invite_code_invalid"  # unknown, revoked, expired or used up
    LOGIN_TAKEN = "login_taken"
    INVALID_CREDENTIALS = "invalid_credentials"  # wrong login name or passphrase
    NOT_SIGNED_IN = "not_signed_in"  # no session cookie and no management key
    CSRF_FAILED = "csrf_failed"  # a cookie-authenticated change without its CSRF token
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    LIMIT_EXCEEDED = "limit_exceeded"  # a per-key limit above the account's, too many keys
    RANGE_TOO_LARGE = "range_too_large"  # a report over more days than allowed
    # device-code flow (RFC 8628 names)
    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED_TOKEN = "expired_token"
    ACCESS_DENIED = "access_denied"
    INVALID_GRANT = "invalid_grant"  # unknown or already used device code


class RequestKind(StrEnum):
    """The `kind` of an `inference_request`: the API its body follows."""

    CHAT = "chat"  # an OpenAI chat-completions body → the upstream's /v1/chat/completions
    COMPLETION = "completion"  # an OpenAI completions body → /v1/completions
    EMBEDDING = "embedding"  # an OpenAI embeddings body → /v1/embeddings
    TOKENIZE = "tokenize"  # a chat body to count the prompt tokens of → /tokenize (no output)


class PromptCount(StrEnum):
    """How a request's prompt was counted when its output budget asked for the exact count
    (the `result` label of `switchyard_exact_prompt_counts`)."""

    COUNTED = "counted"  # by a provider's tokenizer
    ESTIMATED = "estimated"  # no provider could count it: the estimate stayed


class StreamErrorCode(StrEnum):
    """`code` of a provider `error` frame, or of a stream the coordinator ends itself."""

    # refusals at admission (agent)
    DRAINING = "draining"
    UNKNOWN_MODEL = "unknown_model"
    BUSY = "busy"
    DEADLINE_EXCEEDED = "deadline_exceeded"  # the agent saw the deadline pass
    # failures while serving (agent)
    BACKEND_ERROR = "backend_error"
    INTERNAL_ERROR = "internal_error"
    PROVIDER_SHUTDOWN = "provider_shutdown"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_BAD_RESPONSE = "upstream_bad_response"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"  # HTTP 429 or 5xx: retryable
    UPSTREAM_REJECTED = "upstream_rejected"  # any other HTTP 4xx
    UPSTREAM_DOWN = "upstream_down"  # the upstream failed its health check: retryable
    # ends decided by the coordinator's provider actor
    PROVIDER_GONE = "provider_gone"
    TIMEOUT = "timeout"  # the coordinator saw the deadline pass


#: Stream ends that mean "the request's deadline passed", whoever noticed.
DEADLINE_CODES: frozenset[str] = frozenset(
    {StreamErrorCode.TIMEOUT, StreamErrorCode.DEADLINE_EXCEEDED}
)


__all__ = [
    "DEADLINE_CODES",
    "NEUTRAL_OUTCOMES",
    "ApiErrorCode",
    "Capability",
    "Outcome",
    "PromptCount",
    "ProviderStatus",
    "RequestKind",
    "StreamErrorCode",
    "Support",
    "Trust",
]
