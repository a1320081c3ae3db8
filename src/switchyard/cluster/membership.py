"""Replica membership: heartbeats on NATS, the live set, joins and lapses.

Every replica publishes a heartbeat on `<cluster>.members.heartbeat` every
`interval_s` (1 s): its id, an incarnation token (new on every process start), its URL,
its start time and a small `info` dict other modules fill (provider counts...). Every
replica listens to all heartbeats. A replica is *live* while its heartbeats keep
coming; with none for `lapse_s` (2.5 s, checked every 0.05 s) it *lapses*, so a replica
that stops heartbeating — killed, partitioned — is out of every view within 3 s. A
replica that stops cleanly says so (`leaving`) and is dropped at once. A replica seen
again after a lapse *rejoins*; one seen with a new incarnation restarted: its old
incarnation lapses and the new one joins, in that order.

Listeners (`listen`, or the `events()` channel) are told of every `MembershipEvent`.
This replica is always in its own live set; while NATS is down it hears nobody, so the
others lapse from its view, and rejoin when NATS returns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import trio

from .errors import TransportError
from .ids import NAME_RE
from .transport import Transport

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 1.0
LAPSE_S = 2.5  # with the 0.05 s check: dropped within 3 s of the last heartbeat
CHECK_INTERVAL_S = 0.05
MAX_REPLICAS = 1000  # replicas remembered; beyond this new ids are ignored (and logged)
FORGET_AFTER_S = 600.0  # a lapsed replica stays listed (not live) this long
MAX_HEARTBEAT_BYTES = 16 * 1024


class MembershipChange(StrEnum):
    """What happened to a replica."""

    JOINED = "joined"  # first heartbeat, or the first after a lapse (a rejoin)
    LAPSED = "lapsed"  # no heartbeat for lapse_s, or a new incarnation replaced it
    LEFT = "left"  # it said it was stopping


@dataclass(frozen=True)
class MembershipEvent:
    """A change in the live set (`incarnation` tells restarts with one id apart)."""

    change: MembershipChange
    replica_id: str
    incarnation: str


@dataclass
class ReplicaInfo:
    """What this replica knows of one replica (itself included)."""

    replica_id: str
    incarnation: str
    url: str | None
    started_at: float  # unix time the replica started
    last_seen: float  # unix time of its last heartbeat (now, for this replica)
    live: bool
    info: dict[str, Any] = field(default_factory=dict)
    seen_mono: float = 0.0  # monotonic time of the last heartbeat (for lapses)

    def as_json(self, self_id: str) -> dict[str, Any]:
        return {
            "id": self.replica_id,
            "self": self.replica_id == self_id,
            "url": self.url,
            "live": self.live,
            "started_at": self.started_at,
            "last_seen": self.last_seen,
            "info": self.info,
        }


class Membership:
    """Heartbeats and the live set of one replica; run it with `run` in a nursery."""

    def __init__(
        self,
        transport: Transport,
        replica_id: str,
        *,
        url: str | None = None,
        info: Callable[[], dict[str, Any]] | None = None,
        interval_s: float = HEARTBEAT_INTERVAL_S,
        lapse_s: float = LAPSE_S,
    ) -> None:
        if not NAME_RE.match(replica_id):
            raise ValueError("replica id must be 1-64 letters, digits, '_' or '-'")
        self.transport = transport
        self.replica_id = replica_id
        self.incarnation = secrets.token_hex(8)
        self._url = url
        self._running = False
        self.interval_s = interval_s
        self.lapse_s = lapse_s
        self.started_at = time.time()
        self.malformed = 0  # heartbeats ignored as malformed
        self._info_source = info
        self._extra: dict[str, Any] = {}
        self._peers: dict[str, ReplicaInfo] = {}
        self._listeners: list[Callable[[MembershipEvent], None]] = []
        self._subject = transport.subject("members", "heartbeat")
        self._changed = trio.Event()

    @property
    def url(self) -> str | None:
        """This replica's HTTP base URL, once the server knows its address."""
        return self._url

    @url.setter
    def url(self, url: str | None) -> None:
        self._url = url
        if self._running:
            self._beat()  # tell the others now, not at the next heartbeat

    # -- what others read ----------------------------------------------------------------

    def live_replicas(self) -> list[ReplicaInfo]:
        """Every live replica, this one first."""
        return [self._me(), *(p for p in self._peers.values() if p.live)]

    def replicas(self) -> list[ReplicaInfo]:
        """Live replicas and those lapsed in the last `FORGET_AFTER_S` (for display)."""
        return [self._me(), *self._peers.values()]

    def view_complete(self) -> bool:
        """Whether the live set can be trusted to hold every live replica: NATS has been
        connected for a lapse period (each live replica has heartbeated since). False
        before the first connect and during an outage, when the others only look gone."""
        since = self.transport.connected_since
        return since is not None and time.monotonic() - since >= self.lapse_s

    def is_live(self, replica_id: str) -> bool:
        if replica_id == self.replica_id:
            return True
        peer = self._peers.get(replica_id)
        return peer is not None and peer.live

    def set_info(self, key: str, value: Any) -> None:
        """Publish `key: value` (JSON) in this replica's heartbeats from the next one on."""
        self._extra[key] = value

    def listen(self, callback: Callable[[MembershipEvent], None]) -> Callable[[], None]:
        """Call `callback` (synchronously; it must not block) on every change; returns
        the function that stops it."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    @asynccontextmanager
    async def events(
        self, buffer: int = 256
    ) -> AsyncIterator[trio.MemoryReceiveChannel[MembershipEvent]]:
        """Changes as a channel while open (a listener that never reads loses the
        newest events once `buffer` are waiting; they are logged)."""
        send, receive = trio.open_memory_channel[MembershipEvent](buffer)

        def forward(event: MembershipEvent) -> None:
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                log.warning("membership: a listener is full; dropped %s", event)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass

        stop = self.listen(forward)
        try:
            yield receive
        finally:
            stop()
            send.close()

    async def wait_changed(self) -> None:
        """Return after the next change of the live set."""
        await self._changed.wait()

    # -- running -------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Heartbeat, listen and check lapses until cancelled; says goodbye on the way out."""
        async with (
            self.transport.subscribe(self._subject, buffer=4096) as heartbeats,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(self._receive, heartbeats)
            nursery.start_soon(self._check_lapses)
            self._running = True
            self._beat()
            task_status.started()
            try:
                while True:
                    await trio.sleep(self.interval_s)
                    self._beat()
            finally:
                self._running = False
                self._beat(leaving=True)
                with trio.CancelScope(shield=True), contextlib.suppress(TransportError):
                    await self.transport.flush(timeout=1)

    def _me(self) -> ReplicaInfo:
        now = time.time()
        return ReplicaInfo(
            self.replica_id, self.incarnation, self.url, self.started_at, now, True, self._info()
        )

    def _info(self) -> dict[str, Any]:
        info = dict(self._extra)
        if self._info_source is not None:
            try:
                info.update(self._info_source())
            except Exception:  # a bad info source must not stop heartbeats
                log.exception("membership: info source failed")
        return info

    def _beat(self, leaving: bool = False) -> None:
        body = {
            "id": self.replica_id,
            "incarnation": self.incarnation,
            "url": self.url,
            "started_at": self.started_at,
            "info": self._info(),
            "leaving": leaving,
        }
        data = json.dumps(body, separators=(",", ":"), default=str).encode()
        if len(data) > MAX_HEARTBEAT_BYTES:
            log.warning("membership: heartbeat info too large (%d bytes); sent without", len(data))
            body["info"] = {}
            data = json.dumps(body, separators=(",", ":"), default=str).encode()
        if self.transport.connected:
            self.transport.publish(self._subject, data)

    async def _receive(self, heartbeats: trio.MemoryReceiveChannel[Any]) -> None:
        async for message in heartbeats:
            beat = _parse(message.data)
            if beat is None:
                self.malformed += 1
                continue
            self._heard(beat)

    def _heard(self, beat: dict[str, Any]) -> None:
        replica_id, incarnation = beat["id"], beat["incarnation"]
        if replica_id == self.replica_id:
            if incarnation != self.incarnation:
                log.error("membership: another process also uses replica id %s", replica_id)
            return
        now_mono, now = time.monotonic(), time.time()
        peer = self._peers.get(replica_id)
        if peer is not None and peer.live and peer.incarnation != incarnation:
            peer.live = False  # restarted: its old incarnation is gone
            self._emit(MembershipChange.LAPSED, peer)
        if beat["leaving"]:
            if peer is not None and peer.live and peer.incarnation == incarnation:
                peer.live = False
                self._emit(MembershipChange.LEFT, peer)
            return
        if peer is None:
            if len(self._peers) >= MAX_REPLICAS:
                log.warning("membership: %d replicas known; ignoring %s", MAX_REPLICAS, replica_id)
                return
            peer = self._peers[replica_id] = ReplicaInfo(
                replica_id, incarnation, None, 0.0, now, False
            )
        joined = not peer.live
        peer.incarnation = incarnation
        peer.url = beat["url"]
        peer.started_at = beat["started_at"]
        peer.info = beat["info"]
        peer.last_seen, peer.seen_mono, peer.live = now, now_mono, True
        if joined:
            self._emit(MembershipChange.JOINED, peer)
            self._beat()  # let the newcomer learn of us now, not in up to a second

    async def _check_lapses(self) -> None:
        while True:
            await trio.sleep(CHECK_INTERVAL_S)
            now = time.monotonic()
            for replica_id, peer in list(self._peers.items()):
                if peer.live and now - peer.seen_mono > self.lapse_s:
                    peer.live = False
                    self._emit(MembershipChange.LAPSED, peer)
                elif not peer.live and now - peer.seen_mono > FORGET_AFTER_S:
                    del self._peers[replica_id]

    def _emit(self, change: MembershipChange, peer: ReplicaInfo) -> None:
        event = MembershipEvent(change, peer.replica_id, peer.incarnation)
        log.info("membership: replica %s %s", peer.replica_id, change.value)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("membership: a listener failed on %s", event)
        changed, self._changed = self._changed, trio.Event()
        changed.set()


def _parse(data: bytes) -> dict[str, Any] | None:
    """A heartbeat's fields, checked; None when anything is off."""
    if len(data) > MAX_HEARTBEAT_BYTES:
        return None
    try:
        beat = json.loads(data)
    except ValueError:
        return None
    if not isinstance(beat, dict):
        return None
    ok = (
        isinstance(beat.get("id"), str)
        and NAME_RE.match(beat["id"]) is not None
        and isinstance(beat.get("incarnation"), str)
        and len(beat["incarnation"]) <= 64
        and (beat.get("url") is None or isinstance(beat["url"], str))
        and isinstance(beat.get("started_at"), int | float)
        and isinstance(beat.get("info"), dict)
        and isinstance(beat.get("leaving"), bool)
    )
    return beat if ok else None
