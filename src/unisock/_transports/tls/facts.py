"""``TLSFacts``: what a finished TLS handshake established, as the TLS layers hand it up.

One record for both TLS layers (ours over TCP, and the TLS 1.3 inside a QUIC core), so
the API layer builds ``SocketInfo`` from one typed shape instead of a dict whose keys each
producer spells its own way.  A fact the TLS library cannot tell is ``None``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from ..._base.records import CipherInfo, EphemeralKeyInfo

__all__ = ["TLSFacts"]


@dataclass(frozen=True, slots=True)
class TLSFacts:
    """The ``SocketInfo`` TLS fields of one handshake (API.md), before addresses."""

    alpn: str | None
    """The negotiated ALPN id; ``None`` when none was agreed."""
    servername: str | None
    """The SNI name: sent (client) or received (server)."""
    certificate: bytes | None
    """Our leaf certificate (DER), if we sent one."""
    peer_certificate: bytes | None
    """The peer's leaf certificate (DER), if it sent one."""
    verification_status: str | None
    """``"ok"`` when the peer's certificate was verified, else ``None``."""
    cipher: CipherInfo | None
    ephemeral_key: EphemeralKeyInfo | None
    signature_algorithms: tuple[str, ...] | None
    """What the client offered, as the plaintext hello showed it."""
    session_reused: bool | None
    """Whether the handshake resumed a session (``None``: the core cannot tell)."""
    session: ssl.SSLSession | None = None
    """TLS over TCP, client side: the session to resume from (QUIC: always ``None``)."""
    ticket: bytes | None = None
    """A TLS 1.2 session ticket seen in plaintext (TLS 1.3 tickets travel encrypted)."""
    early_data_accepted: bool | None = None
    """QUIC: whether the server took our 0-RTT data (TLS over TCP sends none)."""
