"""WebSocket close codes of the provider wire protocol and the typed frame error."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """Close codes used on the provider socket; 4xxx are protocol-specific."""

    NORMAL = 1000
    GOING_AWAY = 1001
    TRY_AGAIN_LATER = 1013  # the coordinator could not start the provider in time: reconnect
    PROTOCOL_ERROR = 4000
    UNAUTHORIZED = 4001
    INVALID_JSON = 4002
    UNKNOWN_TYPE = 4003
    VALIDATION_FAILED = 4004
    FRAME_TOO_LARGE = 4005
    UNKNOWN_REQUEST = 4006
    DUPLICATE_REGISTER = 4007
    CHALLENGE_FAILED = 4008
    HEARTBEAT_TIMEOUT = 4009
    DRAINED = 4010
    ATTESTATION_REFUSED = 4011
    UNSUPPORTED_VERSION = 4012
    SHUTDOWN = 4013
    UNSOLICITED_RESPONSE = 4014
    TOKEN_REVOKED = 4015
    KEY_NOT_PROVEN = 4016


#: Close codes after which the agent must not reconnect: configuration errors on its side.
FATAL_CLOSE_CODES: frozenset[int] = frozenset(
    {
        CloseCode.UNAUTHORIZED,
        CloseCode.ATTESTATION_REFUSED,
        CloseCode.UNSUPPORTED_VERSION,
        CloseCode.TOKEN_REVOKED,
    }
)


class FrameError(Exception):
    """A frame that cannot be accepted; `code` is the close code to send with a protocol_error."""

    def __init__(self, code: CloseCode, message: str) -> None:
        super().__init__(f"{code.name} ({int(code)}): {message}")
        self.code = code
        self.message = message
