"""A fake vLLM-like upstream: records every body it receives and answers by case.

The case is the text of the last user message (its first text part, when it has parts)
when it is one of `CASES` (else `text`).
Every answer is a stream (the agent always asks for one) in vLLM's shapes, ending with a
usage chunk:

- `text`: "Hello", " world"; `tools`: two parallel tool calls whose arguments arrive in
  pieces (`TOOL_CALLS` is what they add up to), finish `tool_calls`; `reasoning`:
  `REASONING_PIECES` reasoning pieces then "42", with `reasoning_tokens` in the usage;
  `logprobs`: two tokens with logprobs and top alternatives; `n2`: two choices
  interleaved, choice 1 ending on `length`; `refusal`: a refusal; `image`: says how many
  image parts the last user message had (`IMAGE_ANSWER`); `stop_through`: `STOP_PIECES`,
  a backend that lets the stop sequence `END` through into the text; `length`: "Hello",
  " wor", cut with finish `length` (`max_tokens` reached);
- `context`: HTTP 400 with vLLM's context-length error body; `midstream`: a token, then
  an error event; `error_first`: an error event before any token.

Beyond chat, in vLLM's shapes (every body recorded in `calls`, by route):

- `POST /v1/completions`: a stream of `COMPLETION_PIECES` per choice (one choice per
  prompt and `n`, index `prompt * n + sample`), the prompt first when `echo`, legacy
  `logprobs` (tokens, token_logprobs, top_logprobs, text_offset) when asked, a finish per
  choice, then usage (`completion_usage`);
- `POST /v1/embeddings`: for the models in `embed_models`, one embedding per input
  (`fake_embedding`: `dimensions` long, float32-exact values), floats or base64 as asked,
  `EMBED_TOKENS` prompt tokens per input; any other model is vLLM's 400 refusal;
- `POST /tokenize`: vLLM's `{"count", "max_model_len", "tokens"}`, counting
  `fake_token_count`: `TOKENIZE_BASE`, `TOKENIZE_PER_MESSAGE` per message and one token
  per `TOKENIZE_CHARS_PER_TOKEN` characters of text (denser than the coordinator's
  estimate on purpose; a 404 with `tokenizer=False`).

With `max_model_len` set, `/v1/models` reports it (so the agent probes it as vLLM), and a
chat body whose `max_tokens` plus its `fake_token_count` exceeds it is refused with vLLM's
400 (the `context` case's body), as vLLM checks `prompt + max_tokens`.
"""

from __future__ import annotations

import base64
import json
import struct
from functools import partial
from typing import Any

import h11
import trio

from tests.h11_server import read_request, response_head

CONTEXT_ERROR = (
    "This model's maximum context length is 4096 tokens. However, you requested 9000 "
    "tokens (8000 in the messages, 1000 in the completion). Please reduce the length."
)
TOOL_CALLS = [
    {
        "id": "call_a",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'},
    },
    {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
]
REASONING_PIECES = 30
USAGE = {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28}
IMAGE_ANSWER = "I see {} images"
STOP_PIECES = ("one ", "two E", "ND three")
CASES = ("text", "tools", "reasoning", "logprobs", "n2", "refusal", "image", "stop_through")
CASES += ("context", "midstream", "error_first")
CASES += ("length",)


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
    return _sse(
        {"id": "c1", "object": "chat.completion.chunk", "model": "up", "choices": choices, **extra}
    )


def _delta(delta: dict[str, Any], index: int = 0, **extra: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": None, **extra}


def _finish(reason: str, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": {}, "logprobs": None, "finish_reason": reason}


def _tools() -> list[str]:
    events = [_chunk([_delta({"role": "assistant", "content": None})])]
    for index, call in enumerate(TOOL_CALLS):
        name = call["function"]["name"]
        opening = {"index": index, "id": call["id"], "type": "function"}
        opening["function"] = {"name": name, "arguments": ""}
        events.append(_chunk([_delta({"tool_calls": [opening]})]))
        args = call["function"]["arguments"]
        for start in range(0, len(args), 5):
            piece = {"index": index, "function": {"arguments": args[start : start + 5]}}
            events.append(_chunk([_delta({"tool_calls": [piece]})]))
    events.append(_chunk([_finish("tool_calls")]))
    events.append(_chunk([], usage=USAGE))
    return events


def _logprob(token: str, value: float) -> dict[str, Any]:
    top = [
        {"token": token, "logprob": value, "bytes": list(token.encode())},
        {"token": "x", "logprob": -5.5, "bytes": [120]},
    ]
    return {"token": token, "logprob": value, "bytes": list(token.encode()), "top_logprobs": top}


LOGPROB_TOKENS = [("Hi", -0.25), ("!", -1.5)]


def _image_parts(body: dict[str, Any]) -> int:
    content = last_user_content(body)
    parts = content if isinstance(content, list) else []
    return sum(1 for part in parts if part.get("type") == "image_url")


def _answer(case: str, body: dict[str, Any]) -> tuple[int, list[str]]:
    """(HTTP status, SSE events or one JSON body) of a case."""
    role = _chunk([_delta({"role": "assistant", "content": ""})])
    done = "data: [DONE]\n\n"
    if case in ("image", "stop_through"):
        texts = [IMAGE_ANSWER.format(_image_parts(body))] if case == "image" else STOP_PIECES
        pieces = [_chunk([_delta({"content": text})]) for text in texts]
        return 200, [role, *pieces, _chunk([_finish("stop")]), _chunk([], usage=USAGE), done]
    if case == "length":
        pieces = [_chunk([_delta({"content": p})]) for p in ("Hello", " wor")]
        return 200, [role, *pieces, _chunk([_finish("length")]), _chunk([], usage=USAGE), done]
    if case == "context":
        body = {"object": "error", "message": CONTEXT_ERROR, "type": "BadRequestError"}
        return 400, [json.dumps({**body, "param": None, "code": 400})]
    if case == "tools":
        return 200, [*_tools(), done]
    if case == "reasoning":
        pieces = [
            _chunk([_delta({"reasoning_content": f"r{i} "})]) for i in range(REASONING_PIECES)
        ]
        usage = {
            "prompt_tokens": 11,
            "completion_tokens": REASONING_PIECES + 1,
            "total_tokens": REASONING_PIECES + 12,
            "completion_tokens_details": {"reasoning_tokens": REASONING_PIECES},
        }
        answer = _chunk([_delta({"content": "42"})])
        return 200, [
            role,
            *pieces,
            answer,
            _chunk([_finish("stop")]),
            _chunk([], usage=usage),
            done,
        ]
    if case == "logprobs":
        events = [role]
        for token, value in LOGPROB_TOKENS:
            logprobs = {"content": [_logprob(token, value)]}
            events.append(_chunk([_delta({"content": token}, logprobs=logprobs)]))
        return 200, [*events, _chunk([_finish("stop")]), _chunk([], usage=USAGE), done]
    if case == "n2":
        events = [_chunk([_delta({"role": "assistant", "content": ""}, i)]) for i in (0, 1)]
        for a, b in (("A", "a"), ("B", "b")):
            events.append(_chunk([_delta({"content": a}, 0), _delta({"content": b}, 1)]))
        events += [_chunk([_finish("length", 1)]), _chunk([_finish("stop", 0)])]
        return 200, [*events, _chunk([], usage=USAGE), done]
    if case == "refusal":
        refusal = _chunk([_delta({"refusal": "I can't help with that."})])
        return 200, [role, refusal, _chunk([_finish("stop")]), _chunk([], usage=USAGE), done]
    if case == "midstream":
        error = _sse({"error": {"message": "the engine died", "type": "InternalServerError"}})
        return 200, [role, _chunk([_delta({"content": "partial"})]), error, done]
    if case == "error_first":
        error = _sse({"error": {"message": "the engine died", "type": "InternalServerError"}})
        return 200, [role, error, done]
    pieces = [_chunk([_delta({"content": p})]) for p in ("Hello", " world")]
    return 200, [role, *pieces, _chunk([_finish("stop")]), _chunk([], usage=USAGE), done]


COMPLETION_PIECES = ("Hello", " world")
EMBED_TOKENS = 3
TOKENIZE_BASE, TOKENIZE_PER_MESSAGE, TOKENIZE_CHARS_PER_TOKEN = 17, 5, 3


def fake_token_count(messages: list[dict[str, Any]]) -> int:
    """The prompt tokens the fake's tokenizer counts for chat `messages`."""
    chars = 0
    for message in messages:
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"text": content}]
        chars += sum(len(p.get("text") or "") for p in parts if isinstance(p, dict))
    return TOKENIZE_BASE + TOKENIZE_PER_MESSAGE * len(messages) + chars // TOKENIZE_CHARS_PER_TOKEN


def completion_prompts(body: dict[str, Any]) -> list[str]:
    """The prompts of a completions body as text (token ids joined by spaces)."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [" ".join(map(str, prompt))]
    return [p if isinstance(p, str) else " ".join(map(str, p)) for p in prompt or []]


def completion_usage(body: dict[str, Any]) -> dict[str, int]:
    """The usage the fake reports for a completions body."""
    choices = len(completion_prompts(body)) * (body.get("n") or 1)
    completion = len(COMPLETION_PIECES) * choices
    return {"prompt_tokens": 5, "completion_tokens": completion, "total_tokens": 5 + completion}


def text_logprobs(piece: str, offset: int) -> dict[str, Any]:
    """The legacy logprobs of one streamed piece."""
    return {
        "tokens": [piece],
        "token_logprobs": [-0.5],
        "top_logprobs": [{piece: -0.5, "x": -3.0}],
        "text_offset": [offset],
    }


def _completion_answer(body: dict[str, Any]) -> list[str]:
    prompts, n = completion_prompts(body), body.get("n") or 1
    head = {"id": "cmpl-up", "object": "text_completion", "created": 1, "model": "up"}
    events = []
    for index in range(len(prompts) * n):
        offset = 0
        pieces = list(COMPLETION_PIECES)
        if body.get("echo"):
            pieces.insert(0, prompts[index // n])
        for piece in pieces:
            logprobs = text_logprobs(piece, offset) if body.get("logprobs") is not None else None
            choice = {"index": index, "text": piece, "logprobs": logprobs, "finish_reason": None}
            events.append(_sse({**head, "choices": [choice]}))
            offset += len(piece)
        final = {"index": index, "text": "", "logprobs": None, "finish_reason": "length"}
        events.append(_sse({**head, "choices": [final]}))
    events.append(_sse({**head, "choices": [], "usage": completion_usage(body)}))
    return [*events, "data: [DONE]\n\n"]


def fake_embedding(index: int, dimensions: int) -> list[float]:
    """Input `index`'s vector: multiples of 1/8, exact in float32."""
    return [((index + 1) * (k + 1) % 16 - 8) / 8 for k in range(dimensions)]


def _embeddings_answer(body: dict[str, Any]) -> dict[str, Any]:
    value = body["input"]
    inputs = 1 if isinstance(value, str) or all(isinstance(v, int) for v in value) else len(value)
    data = []
    for index in range(inputs):
        vector = fake_embedding(index, body.get("dimensions") or 4)
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            raw = struct.pack(f"<{len(vector)}f", *vector)
            embedding = base64.b64encode(raw).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = {"prompt_tokens": EMBED_TOKENS * inputs, "total_tokens": EMBED_TOKENS * inputs}
    return {"object": "list", "data": data, "model": body["model"], "usage": usage}


def last_user_content(body: dict[str, Any]) -> Any:
    """The content of the body's last user message (None if it has none)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return message.get("content")
    return None


def case_of(body: dict[str, Any]) -> str:
    """The case a request body asks for (see the module docstring)."""
    content = last_user_content(body)
    if isinstance(content, list):
        texts = [part.get("text") for part in content if part.get("type") == "text"]
        content = texts[0] if texts else None
    return content if content in CASES else "text"


class FakeUpstream:
    """The server (see the module docstring); `bodies` holds every chat request body."""

    def __init__(
        self,
        models: tuple[str, ...] = ("upstream/model",),
        *,
        embed_models: tuple[str, ...] = (),
        max_model_len: int | None = None,
        tokenizer: bool = True,
    ) -> None:
        self.models = models + embed_models
        self.embed_models = embed_models
        self.max_model_len = max_model_len
        self.tokenizer = tokenizer
        self.bodies: list[dict[str, Any]] = []
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def run(self, *, task_status: trio.TaskStatus[FakeUpstream] = trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as nursery:
            serve = partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1")
            listeners = await nursery.start(serve)
            self.port = listeners[0].socket.getsockname()[1]
            task_status.started(self)

    async def _handle(self, stream: trio.SocketStream) -> None:
        received = await read_request(stream)
        if received is None:
            return
        conn, request, body = received
        out = b""
        target = request.target.decode()
        if request.method == b"GET" and request.target == b"/v1/models":
            extra = {"max_model_len": self.max_model_len} if self.max_model_len else {}
            entries = [{"id": m, **extra} for m in self.models]
            payload = json.dumps({"data": entries}).encode()
            out += conn.send(response_head(200, "application/json", len(payload))) or b""
            out += conn.send(h11.Data(payload)) or b""
        elif target in ("/v1/completions", "/v1/embeddings", "/tokenize"):
            received = json.loads(body)
            self.calls.setdefault(target, []).append(received)
            if target == "/v1/completions":
                out += conn.send(response_head(200, "text/event-stream", None)) or b""
                for part in _completion_answer(received):
                    out += conn.send(h11.Data(part.encode())) or b""
            else:
                status, answer = self._json_answer(target, received)
                payload = json.dumps(answer).encode()
                out += conn.send(response_head(status, "application/json", len(payload))) or b""
                out += conn.send(h11.Data(payload)) or b""
        elif request.target != b"/v1/chat/completions":  # /health (the agent's probe) or
            found = request.target == b"/health"  # anything else (Ollama's /api/show): 404
            payload = b'{"status": "ok"}' if found else b'{"error": "not found"}'
            out += (
                conn.send(response_head(200 if found else 404, "application/json", len(payload)))
                or b""
            )
            out += conn.send(h11.Data(payload)) or b""
        else:
            received = json.loads(body)
            self.bodies.append(received)
            status, parts = _answer(self._case(received), received)
            if status != 200:
                payload = parts[0].encode()
                out += conn.send(response_head(status, "application/json", len(payload))) or b""
                out += conn.send(h11.Data(payload)) or b""
            else:
                out += conn.send(response_head(200, "text/event-stream", None)) or b""
                for part in parts:
                    out += conn.send(h11.Data(part.encode())) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(out)
        await stream.aclose()

    def _case(self, body: dict[str, Any]) -> str:
        """`case_of(body)`, or `context` when `max_tokens` does not fit vLLM's check."""
        asked, limit = body.get("max_tokens"), self.max_model_len
        if isinstance(asked, int) and limit is not None:
            if asked + fake_token_count(body.get("messages") or []) > limit:
                return "context"
        return case_of(body)

    def _json_answer(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if target == "/tokenize" and not self.tokenizer:
            return 404, {"detail": "Not Found"}
        if target == "/tokenize":
            count = fake_token_count(body.get("messages") or [])
            return 200, {"count": count, "max_model_len": 4096, "tokens": list(range(count))}
        if body.get("model") not in self.embed_models:
            message = "The model does not support Embeddings API"
            return 400, {"object": "error", "message": message, "type": "BadRequestError"}
        return 200, _embeddings_answer(body)
