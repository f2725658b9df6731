"""Turn the way a QUIC connection ended into the exception unisock reports (or None).

Core-neutral: both cores report ``ConnectionTerminated(error_code, frame_type,
reason_phrase)`` with the codes of RFC 9000 (transport) and RFC 8446 (TLS alerts).
"""

from __future__ import annotations

import errno
from typing import Any

from ...errors import NetworkError, TimeoutError, TLSError

__all__ = ["CRYPTO_ERROR", "is_idle_timeout", "termination_error"]

NO_ERROR = 0x0
INTERNAL_ERROR = 0x1
CRYPTO_ERROR = 0x100
_PADDING = 0x0

_ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}
CERTIFICATE_REQUIRED = 116
_CERTIFICATE_ALERTS = {42, 43, 44, 45, 46, 48, 116}


def is_idle_timeout(event: Any) -> bool:
    """Both cores report their own idle timeout with this exact triple."""
    return bool(
        event.error_code == INTERNAL_ERROR
        and event.frame_type == _PADDING
        and event.reason_phrase == "Idle timeout"
    )


def termination_error(
    event: Any,
    *,
    by_peer: bool,
    by_us_on_request: bool,
    handshake_done: bool,
    heard_from_peer: bool,
    idle_timeout: float,
) -> Exception | None:
    """The error a connection ending this way means; ``None`` for a clean close."""
    if is_idle_timeout(event):
        if not heard_from_peer:
            return NetworkError("no answer from the QUIC peer", errno.ETIMEDOUT)
        if not handshake_done:
            return TimeoutError("the QUIC handshake did not complete before the idle timeout")
        return TimeoutError(f"the QUIC peer was silent for the idle timeout ({idle_timeout:g} s)")
    code = int(event.error_code)
    if by_us_on_request:
        return None  # close(code, reason) asked for by the application
    if code == NO_ERROR:
        return None
    reason = event.reason_phrase or "no reason given"
    if event.frame_type is not None and CRYPTO_ERROR <= code <= CRYPTO_ERROR + 0xFF:
        alert = code - CRYPTO_ERROR
        alert_name = _ALERTS.get(alert, str(alert))
        status = None
        if alert in _CERTIFICATE_ALERTS:
            status = reason if not by_peer else alert_name
        if by_peer:
            return TLSError(
                f"the QUIC peer refused the TLS handshake ({alert_name}: {reason})", status
            )
        return TLSError(f"TLS handshake failed: {reason}", status)
    kind = "transport" if event.frame_type is not None else "application"
    who = "the peer" if by_peer else "this side"
    return NetworkError(
        f"QUIC connection closed by {who} with {kind} error 0x{code:x}: {reason}",
        errno.ECONNRESET if by_peer else errno.ECONNABORTED,
    )
