"""The HTTP plumbing the fake upstreams share (plain trio + h11, one request per
connection): read a whole request, and the head of a response that closes the connection."""

from __future__ import annotations

import h11
import trio


async def read_request(
    stream: trio.SocketStream,
) -> tuple[h11.Connection, h11.Request, bytes] | None:
    """The connection, the request and its whole body; None if the peer left first."""
    conn = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            if not data:
                return None
            conn.receive_data(data)
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    assert request is not None
    return conn, request, body


def response_head(status: int, content_type: str, length: int | None) -> h11.Response:
    """A response head that closes the connection: `content-length`, or chunked if None."""
    headers = [("content-type", content_type), ("connection", "close")]
    headers.append(
        ("content-length", str(length)) if length is not None else ("transfer-encoding", "chunked")
    )
    return h11.Response(status_code=status, headers=headers)
