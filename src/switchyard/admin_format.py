"""Human-readable renderings for `switchyard admin --table`: records, tables, the actor tree."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

Column = str | tuple[str, Callable[[dict[str, Any]], object]]


def cell_text(value: object) -> str:
    """One value as table text: `-` for null, yes/no for booleans, compact JSON for the rest."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def render_record(record: dict[str, Any]) -> str:
    """`key  value` lines, keys aligned."""
    if not record:
        return "(empty)"
    width = max(len(str(k)) for k in record)
    return "\n".join(f"{k:<{width}}  {cell_text(v)}" for k, v in record.items())


def render_table(rows: list[dict[str, Any]], columns: Sequence[Column]) -> str:
    """An aligned text table; a column is a key or a (heading, row -> value) pair."""
    if not rows:
        return "(none)"
    headings = [c if isinstance(c, str) else c[0] for c in columns]
    body = [
        [cell_text(row.get(c)) if isinstance(c, str) else cell_text(c[1](row)) for c in columns]
        for row in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(headings)]
    lines = [headings, *body]
    return "\n".join(
        "  ".join(text.ljust(widths[i]) for i, text in enumerate(line)).rstrip() for line in lines
    )


def _uptime(seconds: float | None) -> str:
    if not seconds:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


def _one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _tree_lines(node: dict[str, Any], depth: int, out: list[tuple[str, dict[str, Any]]]) -> None:
    name = node["path"] if depth == 0 else node["path"].rsplit("/", 1)[-1]
    out.append(("  " * depth + name, node))
    for child in node.get("children", []):
        _tree_lines(child, depth + 1, out)


def render_cluster(view: dict[str, Any]) -> str:
    """`GET /admin/cluster`: a header line, then one row per replica."""
    nats = view.get("nats")
    link = "no NATS (one process)" if nats is None else (
        "NATS connected" if nats.get("connected") else "NATS DISCONNECTED")  # fmt: skip
    now = time.time()
    columns: list[Column] = [
        "id",
        ("self", lambda r: r.get("self")),
        "live",
        ("providers", lambda r: (r.get("info") or {}).get("providers")),
        ("seen_s_ago", lambda r: None if r.get("last_seen") is None
         else round(max(0.0, now - r["last_seen"]), 1)),
        "url",
    ]  # fmt: skip
    header = f"cluster {view.get('cluster') or '-'} · replica {view.get('replica_id')} · {link}"
    return header + "\n" + render_table(view.get("replicas") or [], columns)


def render_tree(snapshot: dict[str, Any]) -> str:
    """The `/admin/supervisor` snapshot as a totals line and one indented line per actor."""
    totals = snapshot.get("totals", {})
    labels = (
        ("actors", "actors"),
        ("restarts", "restarts"),
        ("dead_letters", "dead letters"),
        ("reserved_slots", "reserved"),
        ("queued", "queued"),
    )
    head = " · ".join(f"{label} {cell_text(totals.get(key))}" for key, label in labels)
    entries: list[tuple[str, dict[str, Any]]] = []
    _tree_lines(snapshot["tree"], 0, entries)
    rows = []
    for label, node in entries:
        mailbox = node.get("mailbox") or {}
        error = node.get("last_error")
        rows.append(
            {
                "actor": label,
                "class": node.get("class"),
                "status": node.get("status"),
                "mailbox": f"{mailbox.get('depth')}/{mailbox.get('capacity')}",
                "handled": node.get("handled"),
                "restarts": node.get("restarts"),
                "uptime": _uptime(node.get("uptime_s")),
                "last error": _one_line(f"{error['type']}: {error['message']}") if error else "",
            }
        )
    columns = ("actor", "class", "status", "mailbox", "handled", "restarts", "uptime", "last error")
    return head + "\n" + render_table(rows, columns)
