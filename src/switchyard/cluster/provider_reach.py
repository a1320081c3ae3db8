"""ProviderReach: provider commands and live states wherever a provider is connected.

The one seam the admin API, owners' self-service and the public stats use to act on
and read live providers. It tries this replica's actors first (`actors/provider_control`);
in a cluster it then asks the other live replicas (`ReplicaCalls.ask_all`, 1 s each, in
parallel) and merges their answers, naming the replicas that did not answer. Without a
cluster (`calls` is None) it is local only: no NATS hop.

- `drain` / `disconnect`: run on the replica holding the connection -> `Reached`
- `disconnect_token`: close a revoked token's connections on every replica -> `Closed`
- `live_states(ids)`: the named providers' `describe()`, from whichever replica has them
- `elsewhere()`: the other replicas' providers (`/admin/providers` fields), for views
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..actors import provider_control
from ..runtime import ActorSystem

if TYPE_CHECKING:  # a single process must not import nats (replica_calls -> transport)
    from .replica_calls import FanOut, ReplicaCalls

MAX_IDS_PER_CALL = 2_000  # provider ids in one `provider_states` call (bounds its body)


@dataclass
class Reached:
    """Whether a replica took a command, which one (None without a cluster), and the
    replicas that did not answer (they might hold the provider)."""

    found: bool
    replica: str | None = None
    unanswered: list[str] = field(default_factory=list)


@dataclass
class Closed:
    """The providers whose connections a token revocation closed, and the silent replicas
    (`None` without a cluster)."""

    disconnected: list[str]
    unanswered: list[str] | None = None


class ProviderReach:
    """See the module docstring; one per request (cheap), built by the http layer."""

    def __init__(self, system: ActorSystem, replica_id: str, calls: ReplicaCalls | None) -> None:
        self.system = system
        self.replica_id = replica_id
        self.calls = calls

    @property
    def clustered(self) -> bool:
        return self.calls is not None

    async def _others(self, op: str, **args: Any) -> FanOut | None:
        return None if self.calls is None else await self.calls.ask_all(op, args)

    async def _on_owner(self, op: str, provider_id: str, local: bool, **args: Any) -> Reached:
        here = self.replica_id if self.clustered else None
        if local:
            return Reached(True, here)
        others = await self._others(op, provider_id=provider_id, **args)
        if others is None:
            return Reached(False)
        for replica, answer in sorted(others.answers.items()):
            if answer.get("found"):
                return Reached(True, replica, others.unanswered)
        return Reached(False, None, others.unanswered)

    async def drain(self, provider_id: str) -> Reached:
        """Let the provider finish its requests and take no more, wherever it is."""
        local = await provider_control.drain_provider(self.system, provider_id)
        return await self._on_owner("drain", provider_id, local)

    async def disconnect(self, provider_id: str, reason: str) -> Reached:
        """Close the provider's socket now (the agent may reconnect), wherever it is."""
        local = await provider_control.disconnect_provider(self.system, provider_id, reason)
        return await self._on_owner("disconnect", provider_id, local, reason=reason)

    async def disconnect_token(self, token_id: str) -> Closed:
        """Close (4015) every live connection made with the token, on every replica."""
        closed = await provider_control.disconnect_token_holders(self.system, token_id)
        others = await self._others("revoke_token", token_id=token_id)
        if others is None:
            return Closed(closed)
        for _, answer in sorted(others.answers.items()):
            closed.extend(str(p) for p in answer.get("disconnected", []))
        return Closed(closed, others.unanswered)

    async def live_states(self, provider_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The live `describe()` of each named provider connected anywhere (by id)."""
        wanted = set(provider_ids)
        found = {
            str(s["id"]): s
            for s in provider_control.provider_states(self.system)
            if s.get("id") in wanted
        }
        missing = sorted(wanted - found.keys())
        for start in range(0, len(missing) if self.clustered else 0, MAX_IDS_PER_CALL):
            others = await self._others(
                "provider_states", provider_ids=missing[start : start + MAX_IDS_PER_CALL]
            )
            for _, answer in sorted((others.answers if others else {}).items()):
                for state in answer.get("states", []):
                    if isinstance(state, dict) and state.get("id") in wanted:
                        found.setdefault(str(state["id"]), state)
        return found

    async def elsewhere(self) -> FanOut | None:
        """The other replicas' answers to `providers` (None without a cluster)."""
        return await self._others("providers")
