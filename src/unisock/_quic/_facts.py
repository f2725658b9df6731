"""What a QUIC handshake established, for ``info``: the one place that reads aioquic's TLS.

aioquic's ``tls.Context`` keeps the peer's certificate, the cipher suite and whether the
server asked for a client certificate only in private attributes, and forgets the key
exchange group, the signature algorithms the client offered and (on a server) the SNI it
received.  Those last three are read from the hellos themselves: ``watch`` wraps the
context's ``handle_message`` (every handshake message in and out passes through it, with
no record layer) and feeds them to the same ``HandshakeObserver`` the TCP TLS transport
uses, until both hellos have been seen.  Every access here falls back to ``None`` (never
an exception) if a later aioquic renames what it reads, so ``info`` degrades to fewer
filled fields rather than failing connections.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from .._transports.tls.config import CipherInfo, EphemeralKeyInfo
from .._transports.tls.names import CIPHER_IANA, HandshakeObserver

__all__ = ["handshake_facts", "watch"]


def watch(quic: Any) -> HandshakeObserver | None:
    """Observe the hellos of ``quic`` (an aioquic ``QuicConnection`` whose TLS is set up)."""
    ctx = getattr(quic, "tls", None)
    original = getattr(ctx, "handle_message", None)
    if ctx is None or original is None or not hasattr(ctx, "__dict__"):
        return None
    observer = HandshakeObserver(server_side=not quic.configuration.is_client)

    def handle_message(input_data: bytes, output_buf: dict[Any, Any]) -> Any:
        observer.feed_messages(input_data, outgoing=False)
        marks = {epoch: buf.tell() for epoch, buf in output_buf.items()}
        try:
            return original(input_data, output_buf)
        finally:
            for epoch, buf in output_buf.items():
                start, end = marks.get(epoch, 0), buf.tell()
                if end > start:
                    observer.feed_messages(buf.data_slice(start, end), outgoing=True)
            if observer.hellos_seen:
                ctx.__dict__.pop("handle_message", None)  # back to the class's method

    ctx.handle_message = handle_message
    return observer


def _der(cert: Any) -> bytes | None:
    try:
        return bytes(cert.public_bytes(Encoding.DER)) if cert is not None else None
    except Exception:  # pragma: no cover - not a cryptography certificate
        return None


def handshake_facts(quic: Any, observer: HandshakeObserver | None) -> dict[str, Any]:
    """The info fields of a completed handshake (``None`` where aioquic cannot tell)."""
    ctx = getattr(quic, "tls", None)
    config = quic.configuration
    is_client = bool(config.is_client)
    suite = getattr(getattr(ctx, "key_schedule", None), "cipher_suite", None)
    cipher = None
    if suite is not None:
        name = CIPHER_IANA.get(int(suite)) or f"TLS_{getattr(suite, 'name', suite)}"
        cipher = CipherInfo(name, name, "TLSv1.3")
    own = config.certificate
    if is_client and getattr(ctx, "_certificate_request", None) is None:
        own = None  # the server did not ask for it, so it was not sent
    servername = config.server_name if is_client else None
    group = sigalgs = None
    if observer is not None:
        if not is_client:
            servername = observer.servername
        if observer.group is not None:
            group = EphemeralKeyInfo(*observer.group)
        sigalgs = observer.sigalgs
    return {
        "servername": servername,
        "certificate": _der(own),
        "peer_certificate": _der(getattr(ctx, "_peer_certificate", None)),
        "cipher": cipher,
        "ephemeral_key": group,
        "signature_algorithms": sigalgs,
    }
