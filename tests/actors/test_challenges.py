"""ChallengeSchedule verdicts: answers with no outstanding challenge, late answers, replays."""

from __future__ import annotations

import random
from collections import deque

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchyard.actors.challenges import RETIRED_NONCES, ChallengeSchedule, Verdict
from switchyard.protocol.frames import ProviderStatus
from switchyard.protocol.signing import provider_id_for, public_key_b64, sign_challenge
from switchyard.settings import ProviderSettings

KEY = Ed25519PrivateKey.generate()
PUBLIC = public_key_b64(KEY)
PROVIDER = provider_id_for(PUBLIC)
STATUS = ProviderStatus()


def schedule(retired: deque[str] | None = None) -> ChallengeSchedule:
    return ChallengeSchedule(ProviderSettings(), PROVIDER, PUBLIC, random.Random(1), retired)


def signed(nonce: str) -> str:
    return sign_challenge(KEY, nonce, PROVIDER, STATUS)


def test_an_answer_with_nothing_outstanding_is_unsolicited_and_changes_nothing() -> None:
    s = schedule()
    verdict = s.answer("00" * 32, signed("00" * 32), STATUS)
    assert verdict is Verdict.UNSOLICITED
    assert (s.passed, s.failed, s.consecutive_misses, s.overdue) == (0, 0, 0, False)


def test_a_replayed_answer_is_bad_while_a_challenge_is_outstanding_else_unsolicited() -> None:
    s = schedule()
    first = s.issue(0.0).nonce
    assert s.answer(first, signed(first), STATUS) is Verdict.PASSED
    assert s.answer(first, signed(first), STATUS) is Verdict.UNSOLICITED
    s.issue(1.0)
    assert s.answer(first, signed(first), STATUS) is Verdict.BAD_SIGNATURE
    assert s.outstanding is None and s.failed == 1


def test_a_late_answer_to_an_expired_challenge_is_ignored_once() -> None:
    s = schedule()
    nonce = s.issue(0.0).nonce
    assert s.expire(nonce) is Verdict.MISSED
    current = s.issue(1.0).nonce  # the retry is outstanding when the late answer lands
    assert s.answer(nonce, signed(nonce), STATUS) is Verdict.LATE
    assert s.outstanding is not None and s.outstanding.nonce == current
    assert s.overdue and s.failed == 1  # a late answer neither restores nor punishes
    # The retired nonce is single-use too: answering it again is a bad answer.
    assert s.answer(nonce, signed(nonce), STATUS) is Verdict.BAD_SIGNATURE
    assert s.answer(nonce, signed(nonce), STATUS) is Verdict.UNSOLICITED


def test_retired_nonces_are_bounded_and_survive_a_new_schedule() -> None:
    retired: deque[str] = deque(maxlen=RETIRED_NONCES)
    s = schedule(retired)
    nonces = []
    for i in range(RETIRED_NONCES + 3):
        nonces.append(s.issue(float(i)).nonce)
        s.expire(nonces[-1])
    assert len(retired) == RETIRED_NONCES
    oldest = nonces[0]
    assert s.answer(oldest, signed(oldest), STATUS) is Verdict.UNSOLICITED
    # An instance that ends with a challenge outstanding hands it to the next instance.
    pending = s.issue(99.0).nonce
    s.retire()
    assert s.outstanding is None
    restarted = schedule(retired)
    restarted.issue(100.0)
    assert restarted.answer(pending, signed(pending), STATUS) is Verdict.LATE
    assert restarted.outstanding is not None  # the new instance's challenge still stands
