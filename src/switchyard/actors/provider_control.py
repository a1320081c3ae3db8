"""Commands to live provider actors, shared by the admin API and owners' self-service:
drain or disconnect one provider, disconnect every provider connected with a token, and
read live providers' states. These act on this process only; `cluster/provider_reach.py`
reaches the replica that holds a connection.

Each reports whether a live actor took the command (a provider not connected, or gone
meanwhile, is not an error here: the caller decides what to answer).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..protocol.codes import CloseCode
from ..runtime import ActorStopped, ActorSystem
from .provider_messages import PROVIDERS_PATH, Disconnect, Drain


async def send_to_provider(system: ActorSystem, provider_id: str, msg: Drain | Disconnect) -> bool:
    """Deliver `msg` to the provider's actor; False when it is not connected."""
    try:
        ref = system.lookup(f"{PROVIDERS_PATH}/{provider_id}")
        await ref.send(msg)
    except (LookupError, ActorStopped):
        return False
    return True


async def drain_provider(system: ActorSystem, provider_id: str) -> bool:
    """Let the provider finish its requests and take no more, then leave."""
    return await send_to_provider(system, provider_id, Drain())


async def disconnect_provider(system: ActorSystem, provider_id: str, reason: str) -> bool:
    """Close the provider's socket now (the agent may reconnect)."""
    return await send_to_provider(system, provider_id, Disconnect(CloseCode.NORMAL, reason))


async def disconnect_token_holders(system: ActorSystem, token_id: str) -> list[str]:
    """Close (4015, token revoked) every live connection made with the token; their ids."""
    disconnected = []
    for state in system.children_states(PROVIDERS_PATH):
        if state.get("token_id") != token_id:
            continue
        revoked = Disconnect(CloseCode.TOKEN_REVOKED, "provider token revoked")
        if await send_to_provider(system, state["id"], revoked):
            disconnected.append(state["id"])
    return disconnected


def provider_states(
    system: ActorSystem, provider_ids: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The `describe()` of every live provider here (only those named, if given)."""
    states = [s for s in system.children_states(PROVIDERS_PATH) if "id" in s]
    return states if provider_ids is None else [s for s in states if s["id"] in provider_ids]
