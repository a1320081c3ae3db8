"""Names in a cluster: replica ids and cluster names (both become NATS subject tokens)."""

from __future__ import annotations

import re
import secrets

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # replica ids, cluster names, KV buckets


def new_replica_id() -> str:
    """A fresh replica id, for a replica started without --replica-id."""
    return f"r-{secrets.token_hex(4)}"
