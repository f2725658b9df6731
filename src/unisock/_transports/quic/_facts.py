"""What a QUIC handshake established, for ``info``: the hello facts both cores forget.

Neither core keeps the key exchange group, the signature algorithms the client offered or
(on a server) the SNI it received.  Those are read from the hellos themselves: ``watch``
wraps the TLS context's ``handle_message`` (every handshake message in and out passes
through it, with no record layer; both cores' contexts descend from the same code) and
feeds them to the same ``HandshakeObserver`` the TCP TLS transport uses, until both hellos
have been seen.  Every access falls back to ``None`` (never an exception) if a later core
renames what it reads, so ``info`` degrades to fewer filled fields rather than failing
connections.  The rest (cipher, certificates) each core's module reads (``Link.facts``).

The connection completes them (ALPN, verification, resumption, 0-RTT) and resolves its
``handshake`` with a ``QuicFacts``: the same ``TLSFacts`` record TLS over TCP hands up,
plus the path the handshake ran on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..tls.config import CipherInfo, EphemeralKeyInfo
from ..tls.facts import TLSFacts
from ..tls.names import CIPHER_IANA, HandshakeObserver

__all__ = ["QuicFacts", "facts", "watch"]


@dataclass(frozen=True, slots=True)
class QuicFacts:
    """What a connection's handshake established: its TLS facts and its path."""

    tls: TLSFacts
    remote: tuple[Any, ...] | None
    """The peer's socket address (as the endpoint reports it) at the handshake."""
    local: tuple[Any, ...] | None
    """Our endpoint's socket address."""


def watch(ctx: Any, *, is_client: bool) -> HandshakeObserver | None:
    """Observe the hellos passing through ``ctx`` (a core's ``tls.Context``)."""
    original = getattr(ctx, "handle_message", None)
    if ctx is None or original is None or not hasattr(ctx, "__dict__"):
        return None
    observer = HandshakeObserver(server_side=not is_client)

    def handle_message(
        input_data: bytes, output_buf: dict[Any, Any], *args: Any, **kwargs: Any
    ) -> Any:
        observer.feed_messages(input_data, outgoing=False)
        marks = {epoch: buf.tell() for epoch, buf in output_buf.items()}
        try:
            return original(input_data, output_buf, *args, **kwargs)
        finally:
            for epoch, buf in output_buf.items():
                start, end = marks.get(epoch, 0), buf.tell()
                if end > start:
                    observer.feed_messages(buf.data_slice(start, end), outgoing=True)
            if observer.hellos_seen:
                ctx.__dict__.pop("handle_message", None)  # back to the class's method

    ctx.handle_message = handle_message
    return observer


def facts(
    *,
    is_client: bool,
    suite: Any,
    certificate: bytes | None,
    peer_certificate: bytes | None,
    servername: str | None,
    observer: HandshakeObserver | None,
) -> TLSFacts:
    """The TLS facts the core can tell of a completed handshake (``None`` where it cannot).

    ``alpn``, ``verification_status`` and ``session_reused`` are left to the connection,
    which knows them from the core's ``HandshakeCompleted`` event and its own options.
    """
    cipher = None
    if suite is not None:
        name = CIPHER_IANA.get(int(suite)) or f"TLS_{getattr(suite, 'name', suite)}"
        cipher = CipherInfo(name, name, "TLSv1.3")
    group = sigalgs = None
    if observer is not None:
        if not is_client:
            servername = observer.servername
        if observer.group is not None:
            group = EphemeralKeyInfo(*observer.group)
        sigalgs = observer.sigalgs
    return TLSFacts(
        alpn=None,
        servername=servername,
        certificate=certificate,
        peer_certificate=peer_certificate,
        verification_status=None,
        cipher=cipher,
        ephemeral_key=group,
        signature_algorithms=sigalgs,
        session_reused=None,
    )
