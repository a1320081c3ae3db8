"""Snapshot of the actor tree for the inspection endpoint (JSON-serialisable).

Read synchronously from the cells: on trio's single thread this sees a consistent tree
without asking (and so without waiting on) any actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cell import ActorCell

if TYPE_CHECKING:
    from .system import ActorSystem


def node(cell: ActorCell) -> dict[str, Any]:
    """One actor and its subtree."""
    instance = cell.instance
    return {
        "path": cell.path,
        "class": type(instance).__name__ if instance is not None else None,
        "status": cell.status,
        "mailbox": {"depth": cell.mailbox_depth, "capacity": cell.capacity},
        "handled": cell.handled,
        "restarts": cell.restarts,
        "last_error": cell.last_error.as_dict() if cell.last_error else None,
        "uptime_s": round(cell.uptime_s, 3),
        "state": cell.describe_instance(),
        "children": [node(child) for child in list(cell.children.values())],
    }


def snapshot(system: ActorSystem) -> dict[str, Any]:
    """The whole tree plus runtime totals."""
    cells = system.cells()
    return {
        "tree": node(system.root),
        "totals": {
            "actors": len(cells),
            "restarts": sum(cell.restarts for cell in cells),
            "dead_letters": system.dead_letters,
        },
    }
