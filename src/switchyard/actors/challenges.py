"""The challenge schedule of one provider: nonces, deadlines, misses and verdicts.

A pure state machine (no I/O, no timers): the provider actor feeds it the clock and the
provider's answers and acts on the verdicts. Every nonce is fresh and single-use, so a
replayed response can only ever be a bad signature. Two answers are not judged at all:
one to a recently retired nonce (its deadline passed, or the actor instance that issued
it ended) is `LATE` and ignored once, and one arriving when no challenge is outstanding
is `UNSOLICITED`, a protocol violation. Retired nonces are few and bounded, so nothing a
provider sends makes this state grow.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass

from ..protocol.frames import ProviderStatus
from ..protocol.signing import new_nonce, verify_challenge
from ..settings import ProviderSettings


class Verdict(enum.Enum):
    """Outcome of one challenge."""

    PASSED = "passed"
    BAD_SIGNATURE = "bad_signature"
    MISSED = "missed"
    MISSED_TOO_OFTEN = "missed_too_often"
    LATE = "late"
    UNSOLICITED = "unsolicited"


#: How many retired (expired or orphaned) nonces are remembered for their late answers.
RETIRED_NONCES = 4


@dataclass
class Outstanding:
    nonce: str
    deadline: float  # trio clock


class ChallengeSchedule:
    """When to challenge next, what is outstanding, and how answers are judged."""

    def __init__(
        self,
        settings: ProviderSettings,
        provider_id: str,
        public_key: str,
        rng: random.Random,
        retired: deque[str] | None = None,
    ) -> None:
        self.settings = settings
        self.provider_id = provider_id
        self.public_key = public_key
        self.rng = rng
        self.outstanding: Outstanding | None = None
        #: Nonces never answered in time; a caller may pass one that outlives this schedule.
        self.retired = retired if retired is not None else deque(maxlen=RETIRED_NONCES)
        self.consecutive_misses = 0
        self.passed = 0
        self.failed = 0
        self.overdue = False  # a deadline was missed and no challenge has passed since

    def next_delay(self) -> float:
        """Seconds until the next challenge: the interval ± jitter."""
        s = self.settings
        spread = s.challenge_interval_s * s.challenge_jitter
        return max(0.0, s.challenge_interval_s + self.rng.uniform(-spread, spread))

    def issue(self, now: float) -> Outstanding:
        """A fresh challenge (replacing, and retiring, any outstanding one)."""
        self.retire()
        self.outstanding = Outstanding(new_nonce(), now + self.settings.challenge_deadline_s)
        return self.outstanding

    def answer(self, nonce: str, signature: str, status: ProviderStatus) -> Verdict:
        """Judge a response; anything but the outstanding nonce correctly signed is bad."""
        current = self.outstanding
        if current is None or nonce != current.nonce:
            if nonce in self.retired:
                self.retired.remove(nonce)
                return Verdict.LATE
            if current is None:
                return Verdict.UNSOLICITED
        ok = (
            current is not None
            and nonce == current.nonce
            and verify_challenge(self.public_key, nonce, self.provider_id, status, signature)
        )
        self.outstanding = None  # single use, whatever the outcome
        if not ok:
            self.failed += 1
            return Verdict.BAD_SIGNATURE
        self.passed += 1
        self.consecutive_misses = 0
        self.overdue = False
        return Verdict.PASSED

    def expire(self, nonce: str) -> Verdict | None:
        """The deadline of `nonce` passed: a miss, unless it was answered meanwhile."""
        if self.outstanding is None or self.outstanding.nonce != nonce:
            return None
        self.retire()
        self.failed += 1
        self.consecutive_misses += 1
        self.overdue = True
        if self.consecutive_misses >= self.settings.max_missed_challenges:
            return Verdict.MISSED_TOO_OFTEN
        return Verdict.MISSED

    def retire(self) -> None:
        """Forget the outstanding challenge, keeping its nonce for a late answer."""
        if self.outstanding is not None:
            self.retired.append(self.outstanding.nonce)
            self.outstanding = None
