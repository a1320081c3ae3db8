"""UpstreamStream: an OpenAI-compatible server's chunks → wire deltas and a `Finish`.

Each chunk's choices become deltas (`protocol.provider_frames.Delta`): the choice's
`delta` fields the wire knows (role, content, `reasoning_content` — vLLM's newer name
`reasoning` too — refusal, tool calls), its `logprobs`, and its `index` when not 0.
Empty strings and nulls are dropped (they show nothing); `{"content": ...}` and
`{"role": ...}` stay in the per-token shape the chunk codec sends by hand. When the
request asked for several choices (`n` > 1) each choice's finish travels as a delta too.
Anything else is checked against the wire model here, so a malformed upstream fails its
own request (`upstream_bad_response`) instead of costing the provider its socket.

A text completion's chunks (`text=True`: the upstream's `/v1/completions`) carry each
choice's `text` instead of a `delta`: it travels as `content` (so stop sequences and
token counts work as for chat), and its legacy `logprobs` (`tokens`, `token_logprobs`,
`top_logprobs`, `text_offset`) as `text_logprobs`, every field kept.

The last chunk's usage (`stream_options.include_usage`) becomes the `Finish`, with its
details (reasoning and cached tokens); without one, the completion tokens are the tokens
relayed (`protocol.chat.count_tokens`) and the prompt a rough word count. vLLM names the
stop string that ended a choice (`stop_reason`): it becomes `Finish.stop_sequence` when
it is one of the request's.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from switchyard.protocol.chat import count_tokens
from switchyard.protocol.limits import MAX_CHOICE_INDEX, MAX_ROLE_CHARS
from switchyard.protocol.provider_frames import Delta
from switchyard.protocol.vocabulary import StreamErrorCode

from .backend import BackendError, Finish, FinishReason

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}
_TEXT_FIELDS = ("content", "reasoning_content", "refusal")
#: What an upstream writes for an impossible token (log 0); JSON cannot carry -Infinity.
MIN_LOGPROB = -9999.0


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class UpstreamStream:
    """Folds one upstream stream (see the module docstring)."""

    def __init__(self, stops: list[str], n: int = 1, *, text: bool = False) -> None:
        self.stops = stops
        self.text = text
        self.several = n > 1
        self.relayed = 0  # tokens relayed so far
        self.finish_reason: FinishReason = "stop"
        self.stop_sequence: str | None = None
        self.usage: dict[str, Any] | None = None

    def chunk(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The deltas of one upstream chunk (may be none)."""
        out: list[dict[str, Any]] = []
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict):
                delta = self._choice(choice)
                if delta:
                    out.append(delta)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        self.relayed += count_tokens(out)
        return out

    def _choice(self, choice: dict[str, Any]) -> dict[str, Any] | None:
        index = choice.get("index", 0)
        if type(index) is not int or not 0 <= index <= MAX_CHOICE_INDEX:
            raise self._bad("a choice index out of range")
        if self.text:
            piece = choice.get("text")
            delta: dict[str, Any] = {"content": piece} if isinstance(piece, str) and piece else {}
            text_logprobs = _text_logprobs(choice.get("logprobs"))
            if text_logprobs:
                delta["text_logprobs"] = text_logprobs
        else:
            delta = _delta(choice.get("delta"))
            logprobs = _logprobs(choice.get("logprobs"))
            if logprobs:
                delta["logprobs"] = logprobs
        reason = choice.get("finish_reason")
        if isinstance(reason, str):
            finish = _FINISH.get(reason, "stop")
            if index == 0:
                self.finish_reason = finish
                matched = choice.get("stop_reason")  # vLLM names the stop string
                if isinstance(matched, str) and matched in self.stops:
                    self.stop_sequence = matched
            if self.several:
                delta["finish_reason"] = finish
        if not delta:
            return None
        if index:
            delta["index"] = index
        if len(delta) == 1 and (type(delta.get("content")) is str or "role" in delta):
            return delta  # the per-token shapes, checked by the codec by hand
        try:
            Delta.model_validate(delta)
        except ValidationError as exc:
            raise self._bad(f"a chunk the wire cannot carry ({exc.errors()[0]['msg']})") from None
        return delta

    def _bad(self, what: str) -> BackendError:
        return BackendError(
            StreamErrorCode.UPSTREAM_BAD_RESPONSE,
            f"upstream sent {what}",
            retryable=self.relayed == 0,
        )

    def finish(self, rough_prompt_tokens: int) -> Finish:
        """The `Finish` of the stream, from the upstream's usage when it sent one."""
        usage = self.usage or {}
        prompt = _count(usage.get("prompt_tokens"))
        completion = _count(usage.get("completion_tokens"))
        details = usage.get("completion_tokens_details")
        prompt_details = usage.get("prompt_tokens_details")
        return Finish(
            prompt if prompt is not None else rough_prompt_tokens,
            completion if completion is not None else self.relayed,
            self.finish_reason,
            self.stop_sequence,
            _count(details.get("reasoning_tokens")) if isinstance(details, dict) else None,
            _count(prompt_details.get("cached_tokens"))
            if isinstance(prompt_details, dict)
            else None,
        )


def _delta(raw: Any) -> dict[str, Any]:
    """The fields of an upstream choice delta that the wire carries (non-empty)."""
    out: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return out
    role = raw.get("role")
    if isinstance(role, str) and 0 < len(role) <= MAX_ROLE_CHARS:
        out["role"] = role
    for key in _TEXT_FIELDS:
        value = raw.get(key)
        if isinstance(value, str) and value:
            out[key] = value
    reasoning = raw.get("reasoning")  # vLLM's newer name for reasoning_content
    if "reasoning_content" not in out and isinstance(reasoning, str) and reasoning:
        out["reasoning_content"] = reasoning
    calls = raw.get("tool_calls")
    if isinstance(calls, list) and calls:
        out["tool_calls"] = [_tool_call(call) for call in calls]
    return out


def _tool_call(call: Any) -> Any:
    if not isinstance(call, dict):
        return call  # the wire model refuses it
    out = {k: call[k] for k in ("index", "id", "type") if call.get(k) is not None}
    out.setdefault("index", 0)
    function = call.get("function")
    if isinstance(function, dict):
        out["function"] = {k: v for k, v in function.items() if k in ("name", "arguments") and v}
    return out


def _logprobs(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    out = {}
    for key in ("content", "refusal"):
        entries = raw.get(key)
        if isinstance(entries, list) and entries:
            out[key] = [_token_logprob(e) for e in entries]
    return out or None


def _token_logprob(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry  # the wire model refuses it
    out = {k: entry[k] for k in ("token", "logprob", "bytes") if entry.get(k) is not None}
    logprob = out.get("logprob")
    if isinstance(logprob, float) and not math.isfinite(logprob):
        out["logprob"] = MIN_LOGPROB
    top = entry.get("top_logprobs")
    if isinstance(top, list):
        out["top_logprobs"] = [_token_logprob(t) for t in top]
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return MIN_LOGPROB
    return value


def _text_logprobs(raw: Any) -> dict[str, Any] | None:
    """A text completion's logprobs, every list kept (impossible tokens at `MIN_LOGPROB`)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens"), list) or not raw["tokens"]:
        return None
    out: dict[str, Any] = {"tokens": raw["tokens"]}
    values = raw.get("token_logprobs")
    out["token_logprobs"] = [_finite(v) for v in values] if isinstance(values, list) else values
    top = raw.get("top_logprobs")
    if isinstance(top, list):
        out["top_logprobs"] = [
            {k: _finite(v) for k, v in t.items()} if isinstance(t, dict) else t for t in top
        ]
    offsets = raw.get("text_offset")
    if offsets is not None:
        out["text_offset"] = offsets
    return out
