"""Consumer-API errors: `ApiError`, its OpenAI and Anthropic renderings, and body parsing.

Every failure a consumer route reports is an `ApiError` carrying an HTTP status, a message
safe to show to the client (never a stack trace or a class name), an OpenAI `type`, and
optional `param`, `code` and `retry_after`. The same error renders in two shapes:

- OpenAI (`/v1/*`): `{"error": {"message", "type", "param", "code"}}`;
- Anthropic (`/v1/messages`): `{"type": "error", "error": {"type", "message"}}`, where the
  type follows Anthropic's documented status mapping: 400 invalid_request_error,
  401 authentication_error, 402 billing_error, 403 permission_error, 404 not_found_error,
  413 request_too_large, 429 rate_limit_error, 503 and 529 overloaded_error (503 is "no
  capacity", which is what Anthropic's overloaded means), 504 timeout_error, any other 5xx
  (500 internal, 502 provider failure) api_error, any other 4xx invalid_request_error.

`parse_json_body` turns raw request bytes into a validated pydantic model or raises a 4xx
`ApiError`; `validation_error_to_api_error` names the offending parameter
(`messages[0].content`) and reuses pydantic's human message, never the input value.
It also refuses, naming the parameter, any string (or object key) holding a lone UTF-16
surrogate: JSON can escape one (`"\\udc00"`) and Python decodes it into a `str` that
cannot be encoded as UTF-8, so it could reach neither a provider nor the database.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .vocabulary import ApiErrorCode

M = TypeVar("M", bound=BaseModel)

_OPENAI_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def openai_error_type(status: int) -> str:
    """Default OpenAI error `type` for an HTTP status."""
    if status in _OPENAI_TYPES:
        return _OPENAI_TYPES[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def anthropic_error_type(status: int) -> str:
    """Anthropic error `type` for an HTTP status (see the module docstring)."""
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


class ApiError(Exception):
    """An error to return to an API consumer, with everything both renderings need."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or openai_error_type(status)
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r}, type={self.type!r}, code={self.code!r})"

    @property
    def anthropic_type(self) -> str:
        """The Anthropic error type for this error's status."""
        return anthropic_error_type(self.status)

    def openai_body(self) -> dict[str, Any]:
        """`{"error": {"message", "type", "param", "code"}}`."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def anthropic_body(self) -> dict[str, Any]:
        """`{"type": "error", "error": {"type", "message"}}`."""
        return {"type": "error", "error": {"type": self.anthropic_type, "message": self.message}}

    def headers(self) -> dict[str, str]:
        """Extra response headers: `Retry-After` (whole seconds, at least 1) when set."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


# ----------------------------------------------------------------- common errors
# Every ApiError is built by one of these, so each kind of failure has one status and code.


def invalid_request(
    message: str, *, param: str | None = None, code: ApiErrorCode | None = None
) -> ApiError:
    """400: the request is malformed or asks for something unsupported."""
    return ApiError(400, message, param=param, code=code)


def authentication_failed(
    message: str = "Invalid or missing API key.", code: ApiErrorCode = ApiErrorCode.INVALID_API_KEY
) -> ApiError:
    """401: no usable bearer key (or admin key, or metrics token: see `code`)."""
    return ApiError(401, message, code=code)


def insufficient_credit(
    message: str = "Your account has insufficient credit.",
    *,
    param: str | None = None,
    code: ApiErrorCode = ApiErrorCode.INSUFFICIENT_QUOTA,
) -> ApiError:
    """402: the account cannot cover the request's hold (or the payout asked of it)."""
    return ApiError(402, message, param=param, code=code)


def permission_denied(
    message: str,
    *,
    param: str | None = None,
    code: ApiErrorCode = ApiErrorCode.PERMISSION_DENIED,
) -> ApiError:
    """403: the key may not do this (or: a CSRF token or an invite code is refused)."""
    return ApiError(403, message, param=param, code=code)


def not_found(message: str, code: ApiErrorCode = ApiErrorCode.NOT_FOUND) -> ApiError:
    """404: no such thing (account, provider, route...)."""
    return ApiError(404, message, code=code)


def model_not_found(model: str) -> ApiError:
    """404: no such model (or none we know of)."""
    shown = model if len(model) <= 200 else model[:200] + "..."
    return ApiError(
        404,
        f"The model '{shown}' does not exist or is not served by any provider.",
        param="model",
        code=ApiErrorCode.MODEL_NOT_FOUND,
    )


def conflict(
    message: str, *, param: str | None = None, code: ApiErrorCode = ApiErrorCode.CONFLICT
) -> ApiError:
    """409: the request contradicts what was recorded before."""
    return ApiError(409, message, param=param, code=code)


def request_too_large(limit_bytes: int) -> ApiError:
    """413: the body exceeds the configured limit."""
    return ApiError(
        413,
        f"Request body exceeds the limit of {limit_bytes} bytes.",
        code=ApiErrorCode.REQUEST_TOO_LARGE,
    )


def request_frame_too_large(limit_bytes: int) -> ApiError:
    """413: the request is within the body limit, but its frame to a provider would not be."""
    return ApiError(
        413,
        f"The request is too large to send to a provider: its frame would exceed the limit "
        f"of {limit_bytes} bytes.",
        code=ApiErrorCode.REQUEST_TOO_LARGE,
    )


def request_header_too_large(limit_bytes: int) -> ApiError:
    """431: the request head exceeds the limit."""
    return ApiError(
        431,
        f"The request head is larger than the {limit_bytes} byte limit.",
        code=ApiErrorCode.REQUEST_HEADER_TOO_LARGE,
    )


def rate_limited(retry_after: float, message: str = "Rate limit exceeded.") -> ApiError:
    """429 with a `Retry-After`."""
    return ApiError(429, message, code=ApiErrorCode.RATE_LIMIT_EXCEEDED, retry_after=retry_after)


def http_error(status: int, message: str) -> ApiError:
    """Any other HTTP error the web framework raised (405, 413 from its own limit...)."""
    return ApiError(status, message)


def internal_error() -> ApiError:
    """500 with no detail (the cause is logged, never shown)."""
    return ApiError(
        500,
        "The server had an error while processing your request.",
        code=ApiErrorCode.INTERNAL_ERROR,
    )


def bad_gateway(message: str, code: ApiErrorCode, *, retry_after: float | None = None) -> ApiError:
    """502: a service we depend on (Stripe, a provider) failed."""
    return ApiError(502, message, code=code, retry_after=retry_after)


def provider_failed(message: str = "The provider failed to complete the request.") -> ApiError:
    """502: every attempt on a provider failed."""
    return bad_gateway(message, ApiErrorCode.PROVIDER_ERROR)


def upstream_rejected(status: int, message: str) -> ApiError:
    """The provider's upstream refused the request itself (its 4xx and message): the same
    answer on any provider, so never retried."""
    return ApiError(status, message, code=ApiErrorCode.UPSTREAM_REJECTED)


def service_unavailable(
    message: str, code: ApiErrorCode, *, retry_after: float | None = None
) -> ApiError:
    """503: a part of the coordinator cannot serve now (shutting down, store, billing...)."""
    return ApiError(503, message, code=code, retry_after=retry_after)


def no_capacity(model: str, retry_after: float | None = None, why: str = "") -> ApiError:
    """503: no provider slot for the model (`why`, when known, says what is missing)."""
    return ApiError(
        503,
        "No provider capacity is available for this model right now"
        + (f" ({why})" if why else "")
        + "; retry shortly.",
        param="model" if model else None,
        code=ApiErrorCode.NO_CAPACITY,
        retry_after=retry_after,
    )


def gateway_timeout(message: str = "The request timed out.") -> ApiError:
    """504: the request's deadline passed."""
    return ApiError(504, message, code=ApiErrorCode.TIMEOUT)


# ----------------------------------------------------------------- validation and parsing


def _param_from_loc(loc: tuple[int | str, ...]) -> str | None:
    """`("messages", 0, "content")` -> `"messages[0].content"`; union tags are skipped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
    return out or None


def validation_error_to_api_error(exc: ValidationError) -> ApiError:
    """A clean 400 for the first validation error: which parameter, and what is wrong."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return invalid_request("The request body is invalid.")
    err = errors[0]
    param = _param_from_loc(tuple(err["loc"]))
    kind = err["type"]
    where = f"'{param}'" if param else "the request body"
    if kind == "missing":
        message = f"Missing required parameter: {where}."
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"Invalid type for {where}: expected an object."
    else:
        detail = err["msg"].removeprefix("Value error, ")
        message = f"Invalid value for {where}: {detail}."
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return invalid_request(message, param=param, code=ApiErrorCode.INVALID_VALUE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: How a lone surrogate gets into decoded JSON: a `\\uD800`-`\\uDFFF` escape (raw surrogate
#: bytes are invalid UTF-8, which `json.loads` refuses by itself).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs: any left is lone


def lone_surrogate_at(data: Any) -> tuple[int | str, ...] | None:
    """Where the first string of decoded JSON holding a lone surrogate is, else None.

    A bad object key is reported at the object that holds it. Iterative, so nesting as deep
    as `json.loads` allows cannot overflow the stack.
    """
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return loc
        elif isinstance(value, dict):
            if any(_SURROGATE.search(key) for key in value):
                return loc
            stack.extend(((*loc, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in reversed(list(enumerate(value))))
    return None


def _check_unicode(raw: bytes | str, data: Any) -> None:
    """400 naming the parameter when a string of the body holds a lone surrogate."""
    if isinstance(raw, bytes) and not _SURROGATE_ESCAPE.search(raw):
        return  # the common case: no escape that could produce one
    loc = lone_surrogate_at(data)
    if loc is None:
        return
    param = _param_from_loc(loc)
    where = f"'{param}'" if param else "the request body"
    raise invalid_request(
        f"Invalid value for {where}: it contains a lone UTF-16 surrogate escape "
        "(\\ud800-\\udfff without its pair), which is not valid Unicode text.",
        param=param,
        code=ApiErrorCode.INVALID_VALUE,
    )


def parse_json_body(raw: bytes | str, model_cls: type[M], *, max_bytes: int | None = None) -> M:
    """Parse and validate a JSON request body; raises `ApiError` (413 or 400), nothing else.

    Rejects bodies over `max_bytes` of UTF-8 (413), empty bodies, malformed JSON (including
    NaN and Infinity), JSON that is not an object, lone surrogates, and anything `model_cls`
    refuses.
    """
    return validate_body(load_json_object(raw, max_bytes=max_bytes), model_cls)


def load_json_object(raw: bytes | str, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The JSON object of a request body, checked as `parse_json_body` describes (all but
    the model); for routes that forward the consumer's own object."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if max_bytes is not None and size > max_bytes:
        raise request_too_large(max_bytes)
    if not raw.strip():
        raise invalid_request("The request body is empty; expected a JSON object.")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise invalid_request(
            "We could not parse the JSON body of your request.", code=ApiErrorCode.INVALID_JSON
        ) from None
    if not isinstance(data, dict):
        raise invalid_request(
            "The request body must be a JSON object.", code=ApiErrorCode.INVALID_JSON
        )
    _check_unicode(raw, data)
    return data


def validate_body(data: dict[str, Any], model_cls: type[M]) -> M:
    """`data` validated by `model_cls`; a 400 naming the parameter otherwise."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_api_error(exc) from None
    except RecursionError:
        raise invalid_request("The request body is nested too deeply.") from None
