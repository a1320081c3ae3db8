"""ProviderActor: one per connected provider — slots, trust, challenges, in-flight streams.

Status: `registering` (until the first challenge passes) → `online` ⇄ `untrusted` (a bad
signature; only a passed challenge restores it) → `draining` → gone (the actor stops).
A missed challenge deadline makes the provider unroutable until the next success; too
many misses in a row, or no heartbeat for `heartbeat_misses` intervals, disconnects it.
A heartbeat saying the agent's upstream is unhealthy makes it unroutable (zero capacity)
until one says it is healthy again; `describe()` shows the upstream and its reason.
A late answer to a missed challenge is ignored; a `challenge_response` with no challenge
outstanding is a protocol violation that closes the socket (4014) and arms nothing.

The actor pushes its capacity to the scheduler whenever routability or speeds change. It
never blocks on a consumer: each request's stream channel is bounded, and a consumer
that cannot keep up has its request cancelled alone, and a request still running at its
deadline is cancelled and ended on the next heartbeat tick. When an instance ends (crash or
disconnect) it fails its in-flight requests — retryable if no token was relayed — and
tells the scheduler to drop the provider; a restarted instance asks the agent to resync.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import trio

from ..metrics import CHALLENGES
from ..protocol.chat import count_tokens
from ..protocol.chunk_codec import ChunkBatchIn, ChunkIn
from ..protocol.codes import CloseCode
from ..protocol.frames import (
    CancelFrame,
    ChallengeFrame,
    ChallengeResponseFrame,
    CompleteFrame,
    DrainFrame,
    ErrorFrame,
    HeartbeatFrame,
    RegisteredFrame,
    ResyncFrame,
    dump_frame,
    dump_inference_request,
)
from ..protocol.vocabulary import ProviderStatus, Trust
from ..runtime import Actor, MailboxFull, Refusal
from .challenges import ChallengeSchedule, Verdict
from .liveness import HeartbeatWatch
from .provider_inflight import (
    Inflight,
    complete_end,
    error_end,
    expired,
    expired_end,
    gone_end,
    in_use_by_model,
    remember_closed,
)
from .provider_messages import (
    Cancel,
    ChallengeDue,
    ChallengeExpired,
    CloseSocket,
    Disconnect,
    Dispatch,
    Drain,
    PushCapacity,
    StreamChunk,
    StreamEnd,
    Tick,
)
from .provider_session import ProviderSession, SpeedModel, UpstreamView, model_capacity
from .scheduler_messages import CapacityUpdate, ProviderGone

log = logging.getLogger(__name__)


class ProviderUnavailable(Refusal):
    """The provider cannot take this request (not online, draining, unknown model)."""


class ProviderActor(Actor):
    """One connected provider (see module docstring)."""

    def __init__(self, session: ProviderSession) -> None:
        self.session = session
        self.settings = session.settings
        self.provider_id = session.provider_id
        self.status = ProviderStatus.REGISTERING
        self.trust = session.attested_trust
        self.slots = {m.id: m.slots for m in session.register.models}
        self.specs = {m.id: m for m in session.register.models}
        self.speeds = SpeedModel(session.register)
        self.inflight: dict[str, Inflight] = {}
        self.closed_ids = session.closed_ids
        self.reported_load = 0.0
        self.upstream = UpstreamView()
        s = self.settings
        self.heartbeats = HeartbeatWatch(s.heartbeat_interval_s, s.heartbeat_misses, 0.0)
        self.served = 0
        self.challenges = ChallengeSchedule(
            self.settings,
            self.provider_id,
            session.public_key,
            random.Random(),
            session.retired_nonces,
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        self.session.instances += 1
        self.heartbeats.heard(trio.current_time())
        if self.session.instances == 1:
            self._send(
                RegisteredFrame(
                    provider_id=self.provider_id,
                    trust=self.trust,
                    challenge_interval_s=self.settings.challenge_interval_s,
                    heartbeat_interval_s=self.settings.heartbeat_interval_s,
                )
            )
        else:
            log.info("provider %s: actor restarted, asking the agent to resync", self.provider_id)
            self._send(ResyncFrame())
        self._push_capacity()
        self.ref.tell(ChallengeDue())
        self._schedule_tick()

    async def on_stop(self) -> None:
        self.challenges.retire()  # a restarted instance ignores the agent's late answer
        for request_id in list(self.inflight):
            self._finish(request_id, gone_end(self.inflight[request_id]))
        try:
            self.system.lookup("scheduler").tell(ProviderGone(self.provider_id))
        except (LookupError, MailboxFull) as exc:
            log.warning(
                "provider %s: could not tell the scheduler it left: %s", self.provider_id, exc
            )

    def describe(self) -> dict[str, Any]:
        in_use = in_use_by_model(self.inflight)
        return {
            "id": self.provider_id,
            "token_id": self.session.token_id,
            "status": self.status,
            "trust": self.trust,
            "routable": self.routable,
            "models": [
                {"id": m, "slots": n, "in_use": in_use.get(m, 0)} for m, n in self.slots.items()
            ],
            "inflight": len(self.inflight),
            "served": self.served,
            "load": self.reported_load,
            "upstream": self.upstream.describe(),
            "challenges": {
                "passed": self.challenges.passed,
                "failed": self.challenges.failed,
                "overdue": self.challenges.overdue,
            },
        }

    @property
    def routable(self) -> bool:
        return (
            self.status == ProviderStatus.ONLINE
            and not self.challenges.overdue
            and self.upstream.healthy
        )

    # -- messages ------------------------------------------------------------------------

    async def handle(self, msg: Any) -> Any:
        match msg:
            case ChunkIn():
                self._on_chunk(msg)
            case ChunkBatchIn():
                for chunk in msg.chunks:
                    self._on_chunk(chunk)
            case CompleteFrame():
                self._on_complete(msg)
            case ErrorFrame():
                self._on_error(msg)
            case HeartbeatFrame():
                self.heartbeats.heard(trio.current_time())
                self.reported_load = msg.load
                if self.upstream.update(msg.upstream, self.provider_id):
                    self._push_capacity(force=True)
            case ChallengeResponseFrame():
                self._on_challenge_response(msg)
            case Dispatch():
                return self._on_dispatch(msg)
            case Cancel(request_id=request_id):
                if request_id in self.inflight:
                    self._send(CancelFrame(request_id=request_id))
                    self._finish(request_id, None)
            case ChallengeDue():
                self._issue_challenge()
            case ChallengeExpired(nonce=nonce):
                self._on_challenge_expired(nonce)
            case Tick(due=due):
                self._on_tick(due)
            case Drain():
                self._drain()
            case Disconnect(code=code, reason=reason):
                self._close(code, reason)
            case PushCapacity():
                self._push_capacity(force=True)
            case _:
                return await super().handle(msg)
        return None

    def _on_dispatch(self, msg: Dispatch) -> bool:
        if not self.routable:
            raise ProviderUnavailable(f"provider {self.provider_id} is {self.status}")
        if msg.model not in self.slots:
            raise ProviderUnavailable(f"provider {self.provider_id} does not serve {msg.model}")
        if msg.request_id in self.inflight:
            raise ProviderUnavailable(f"request {msg.request_id} is already in flight")
        now = trio.current_time()
        deadline = now + max(0.0, msg.deadline_unix - time.time())
        self.inflight[msg.request_id] = Inflight(msg.model, msg.stream, now, deadline)
        self._send_text(
            dump_inference_request(
                msg.request_id, msg.model, msg.body_json, msg.deadline_unix, msg.kind
            )
        )
        return True

    def _on_chunk(self, msg: ChunkIn) -> None:
        entry = self.inflight.get(msg.request_id)
        if entry is None:
            self._unknown_request(msg.request_id)
            return
        tokens = count_tokens(msg.deltas)
        if entry.first_token_at is None and tokens:
            entry.first_token_at = trio.current_time()
        entry.tokens += tokens
        try:
            entry.stream.send_nowait(StreamChunk(msg.deltas, tokens))
        except trio.WouldBlock:
            log.info("request %s: consumer too slow, cancelling it", msg.request_id)
            self._send(CancelFrame(request_id=msg.request_id))
            self._finish(msg.request_id, None)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._send(CancelFrame(request_id=msg.request_id))
            self._finish(msg.request_id, None)

    def _on_complete(self, msg: CompleteFrame) -> None:
        entry = self.inflight.get(msg.request_id)
        if entry is None:
            self._unknown_request(msg.request_id)
            return
        self.served += 1
        self._learn_speeds(entry, msg.usage.prompt_tokens, msg.usage.completion_tokens)
        self._finish(msg.request_id, complete_end(msg))

    def _on_error(self, msg: ErrorFrame) -> None:
        entry = self.inflight.get(msg.request_id)
        if entry is None:
            self._unknown_request(msg.request_id)
            return
        self._finish(msg.request_id, error_end(msg, entry))

    def _unknown_request(self, request_id: str) -> None:
        if request_id in self.closed_ids:
            return  # a late frame for a request we cancelled or finished: drop it
        self._close(CloseCode.UNKNOWN_REQUEST, f"no request {request_id[:128]} on this connection")

    def _finish(self, request_id: str, end: StreamEnd | None) -> None:
        entry = self.inflight.pop(request_id)
        if end is not None:
            try:
                entry.stream.send_nowait(end)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # consumer gone or hopelessly behind: closing the channel tells it
        entry.stream.close()
        remember_closed(self.closed_ids, request_id)
        if self.status == ProviderStatus.DRAINING and not self.inflight:
            self._close(CloseCode.DRAINED, "drained")

    def _learn_speeds(self, entry: Inflight, prompt_tokens: int, completion_tokens: int) -> None:
        first = entry.first_token_at
        ttft = None if first is None else first - entry.started
        span = None if first is None else trio.current_time() - first
        self.speeds.learn(entry.model, ttft, span, prompt_tokens, completion_tokens)
        self._push_capacity()

    # -- challenges and liveness ---------------------------------------------------------

    def _issue_challenge(self) -> None:
        if self.status in (ProviderStatus.DRAINING, ProviderStatus.GONE):
            return
        now = trio.current_time()
        challenge = self.challenges.issue(now)
        deadline_s = self.settings.challenge_deadline_s
        self._send(ChallengeFrame(nonce=challenge.nonce, deadline=time.time() + deadline_s))
        self.send_after(deadline_s, ChallengeExpired(challenge.nonce))

    def _on_challenge_response(self, msg: ChallengeResponseFrame) -> None:
        verdict = self.challenges.answer(msg.nonce, msg.signature, msg.status)
        CHALLENGES.labels(verdict.value).inc()
        if verdict is Verdict.LATE:
            return  # answered after its deadline: the miss stands, nothing else happens
        if verdict is Verdict.UNSOLICITED:
            # Arms no timer and pushes nothing: a flood of these costs one close.
            log.warning("provider %s: challenge_response with none outstanding", self.provider_id)
            self._close(CloseCode.UNSOLICITED_RESPONSE, "no challenge outstanding")
            return
        if verdict is Verdict.PASSED:
            if self.status in (ProviderStatus.REGISTERING, ProviderStatus.UNTRUSTED):
                self.status = ProviderStatus.ONLINE
            self.trust = self.session.attested_trust
        else:
            log.warning("provider %s: bad challenge signature → untrusted", self.provider_id)
            if self.status != ProviderStatus.DRAINING:
                self.status = ProviderStatus.UNTRUSTED
            self.trust = Trust.UNTRUSTED
        self._push_capacity(force=True)
        self.send_after(self.challenges.next_delay(), ChallengeDue())

    def _on_challenge_expired(self, nonce: str) -> None:
        verdict = self.challenges.expire(nonce)
        if verdict is None:
            return
        CHALLENGES.labels(verdict.value).inc()
        if verdict is Verdict.MISSED_TOO_OFTEN:
            self._close(CloseCode.CHALLENGE_FAILED, "too many missed challenges")
            return
        log.info("provider %s missed a challenge deadline: unroutable", self.provider_id)
        self._push_capacity(force=True)
        self.send_after(self.settings.challenge_retry_s, ChallengeDue())

    def _schedule_tick(self) -> None:
        interval = self.settings.heartbeat_interval_s
        self.send_after(interval, Tick(due=trio.current_time() + interval))

    def _on_tick(self, due: float) -> None:
        """Disconnect a provider silent too long (`liveness.py`: the coordinator's own
        lateness is excused), and cancel requests past their deadline."""
        if self.heartbeats.too_silent(trio.current_time(), due):
            self._close(CloseCode.HEARTBEAT_TIMEOUT, "no heartbeat")
            return
        for request_id in expired(self.inflight, trio.current_time()):
            log.info("request %s: deadline passed, cancelling it", request_id)
            self._send(CancelFrame(request_id=request_id))
            self._finish(request_id, expired_end())
        self._schedule_tick()

    def _drain(self) -> None:
        if self.status == ProviderStatus.GONE:
            return
        self.status = ProviderStatus.DRAINING
        self._push_capacity(force=True)
        self._send(DrainFrame())
        if not self.inflight:
            self._close(CloseCode.DRAINED, "drained")

    # -- outputs -------------------------------------------------------------------------

    def _push_capacity(self, force: bool = False) -> None:
        if not force and not self.speeds.changed():
            return
        self.speeds.mark_pushed()
        speeds = self.speeds.speeds
        update = CapacityUpdate(
            provider_id=self.provider_id,
            ref=self.ref,
            trust=self.trust,
            routable=self.routable,
            models={m: model_capacity(self.specs[m], n, speeds[m]) for m, n in self.slots.items()},
        )
        try:
            self.system.lookup("scheduler").tell(update)
        except (LookupError, MailboxFull) as exc:
            log.warning("provider %s: capacity push failed: %s", self.provider_id, exc)

    def _send(self, frame: Any) -> None:
        self._send_text(dump_frame(frame))

    def _send_text(self, text: str) -> None:
        try:
            self.session.outbound.send_nowait(text)
        except trio.WouldBlock:
            self._close(CloseCode.PROTOCOL_ERROR, "provider is not reading its socket")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.stop()

    def _close(self, code: int, reason: str) -> None:
        """Ask the route to close the socket, and stop this actor for good."""
        if self.status == ProviderStatus.GONE:
            return
        self.status = ProviderStatus.GONE
        self._push_capacity(force=True)
        try:
            self.session.outbound.send_nowait(CloseSocket(int(code), reason))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the route notices the actor stopped and closes the socket itself
        self.stop()
