"""Names in a cluster: replica ids and cluster names (both become NATS subject tokens),
and what a NATS URL must look like."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # replica ids, cluster names, KV buckets
NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def nats_url_ok(url: str) -> bool:
    """Whether `url` is one NATS server URL (`nats://[user:pass@]host[:port]`, or tls://,
    ws://, wss://). A malformed URL is a usage error; an unreachable one is not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return False
    return (
        parts.scheme in NATS_SCHEMES
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and not any(c.isspace() for c in url)
    )


def new_replica_id() -> str:
    """A fresh replica id, for a replica started without --replica-id."""
    return f"r-{secrets.token_hex(4)}"
