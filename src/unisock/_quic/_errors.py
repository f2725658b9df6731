"""Turn the way a QUIC connection ended into the exception unisock reports (or None)."""

from __future__ import annotations

import errno

from aioquic.quic.events import ConnectionTerminated
from aioquic.quic.packet import QuicErrorCode, QuicFrameType
from aioquic.tls import AlertDescription

from ..errors import NetworkError, TimeoutError, TLSError

__all__ = ["is_idle_timeout", "termination_error"]

_CRYPTO_BASE = int(QuicErrorCode.CRYPTO_ERROR)
_CERTIFICATE_ALERTS = {
    AlertDescription.bad_certificate,
    AlertDescription.unsupported_certificate,
    AlertDescription.certificate_revoked,
    AlertDescription.certificate_expired,
    AlertDescription.certificate_unknown,
    AlertDescription.unknown_ca,
    AlertDescription.certificate_required,
}


def is_idle_timeout(event: ConnectionTerminated) -> bool:
    """aioquic reports its own idle timeout with this exact triple."""
    return (
        event.error_code == QuicErrorCode.INTERNAL_ERROR
        and event.frame_type == QuicFrameType.PADDING
        and event.reason_phrase == "Idle timeout"
    )


def termination_error(
    event: ConnectionTerminated,
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
    code = event.error_code
    if by_us_on_request:
        return None  # close(code, reason) asked for by the application
    if code == QuicErrorCode.NO_ERROR:
        return None
    reason = event.reason_phrase or "no reason given"
    if event.frame_type is not None and _CRYPTO_BASE <= code <= _CRYPTO_BASE + 0xFF:
        alert = code - _CRYPTO_BASE
        try:
            alert_name = AlertDescription(alert).name
        except ValueError:
            alert_name = str(alert)
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
