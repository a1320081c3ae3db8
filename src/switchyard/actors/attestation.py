"""Attestation verifiers: evidence of a declared kind → a trust level.

`none` proves nothing beyond key possession (trust `self_signed`). `test-hardware`, enabled
only by configuration, stands in for a hardware quote so hardware-only routing can be
tested: its evidence is hex HMAC-SHA256(secret, public key). Real hardware kinds (TPM
quotes, GPU attestation reports) plug in behind the same `AttestationVerifier` interface.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from ..protocol.frames import Attestation
from ..protocol.vocabulary import Trust


class AttestationRefused(Exception):
    """The evidence is of an unknown kind or does not verify."""


class AttestationVerifier(Protocol):
    """Checks evidence of one kind for one public key; returns the trust it earns."""

    kind: str

    def verify(self, public_key: str, evidence: str) -> Trust: ...


class NoneVerifier:
    """Kind `none`: no evidence; the key alone earns `self_signed`."""

    kind = "none"

    def verify(self, public_key: str, evidence: str) -> Trust:
        return Trust.SELF_SIGNED


class TestHardwareVerifier:
    __test__ = False  # not a pytest test class

    """Kind `test-hardware`: HMAC evidence under a configured secret earns `hardware`."""

    kind = "test-hardware"

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def evidence_for(self, public_key: str) -> str:
        return hmac.new(self._secret, public_key.encode(), hashlib.sha256).hexdigest()

    def verify(self, public_key: str, evidence: str) -> Trust:
        if not hmac.compare_digest(self.evidence_for(public_key), evidence):
            raise AttestationRefused("test-hardware evidence does not verify")
        return Trust.HARDWARE


class AttestationRegistry:
    """The verifiers enabled in this coordinator, by kind."""

    def __init__(self, verifiers: list[AttestationVerifier]) -> None:
        self._by_kind = {v.kind: v for v in verifiers}

    @classmethod
    def default(cls, enable_test_hardware: bool = False, secret: str = "") -> AttestationRegistry:
        verifiers: list[AttestationVerifier] = [NoneVerifier()]
        if enable_test_hardware:
            verifiers.append(TestHardwareVerifier(secret))
        return cls(verifiers)

    def trust_for(self, public_key: str, attestation: Attestation) -> Trust:
        verifier = self._by_kind.get(attestation.kind)
        if verifier is None:
            known = ", ".join(sorted(self._by_kind))
            raise AttestationRefused(
                f"attestation kind {attestation.kind!r} is not accepted here (accepted: {known})"
            )
        return verifier.verify(public_key, attestation.evidence)
