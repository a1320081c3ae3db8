"""How admin routes reach the rest of the cluster (no-ops without one).

- `announce(kind, **fields)`: broadcast a change (API key revoked or re-limited, price
  set) so every replica drops its cached copy at once.
- `ask_others(op, **args)`: ask every other live replica (1 s each, in parallel); None
  without a cluster. The answer says which replicas did not answer.
- `provider_reach()`: the `ProviderReach` (live providers' commands and states wherever
  they are connected) that admin, self-service and the public stats share; local only
  without a cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..cluster.provider_reach import ProviderReach
from .context import coordinator

if TYPE_CHECKING:
    from ..cluster.replica_calls import FanOut


def announce(kind: str, **fields: Any) -> None:
    state = coordinator().state
    if state is not None:
        state.calls.publish_change(kind, **fields)


async def ask_others(op: str, **args: Any) -> FanOut | None:
    state = coordinator().state
    if state is None:
        return None
    return await state.calls.ask_all(op, args)


def provider_reach() -> ProviderReach:
    coord = coordinator()
    calls = None if coord.state is None else coord.state.calls
    return ProviderReach(coord.system, coord.replica_id, calls)
