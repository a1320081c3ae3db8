"""Test helpers: a strict SSE parser and SDK clients whose transport replays fixed bytes."""

from __future__ import annotations

import anthropic
import httpx2
import openai


def parse_sse(data: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE byte stream into (event, data) pairs; fail on anything malformed."""
    text = data.decode("utf-8")
    assert text.endswith("\n\n"), "stream must end with a blank line"
    events: list[tuple[str | None, str]] = []
    for block in text[:-2].split("\n\n"):
        event: str | None = None
        lines: list[str] = []
        for line in block.split("\n"):
            field, sep, value = line.partition(": ")
            assert sep, f"malformed SSE line {line!r}"
            if field == "event":
                event = value
            else:
                assert field == "data", f"unexpected SSE field {field!r}"
                lines.append(value)
        assert lines, "every event carries data"
        events.append((event, "\n".join(lines)))
    return events


def _transport(status: int, body: bytes, content_type: str) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": content_type})

    return httpx2.MockTransport(handler)


def openai_client(body: bytes, *, status: int = 200, sse: bool = False) -> openai.OpenAI:
    """An official OpenAI client whose every request gets `body` back."""
    kind = "text/event-stream" if sse else "application/json"
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://switchyard.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=_transport(status, body, kind)),
    )


def anthropic_client(body: bytes, *, status: int = 200, sse: bool = False) -> anthropic.Anthropic:
    """An official Anthropic client whose every request gets `body` back."""
    kind = "text/event-stream" if sse else "application/json"
    return anthropic.Anthropic(
        api_key="sk-test",
        base_url="http://switchyard.test",
        max_retries=0,
        http_client=httpx2.Client(transport=_transport(status, body, kind)),
    )
