"""The ALPN protocol ids ``type`` accepts by name, and which of them run over QUIC.

``type="h2"`` means TLS offering ALPN ``h2``; ``type="h3"`` means QUIC offering ``h3``.
The ids are those of IANA's "TLS Application-Layer Protocol Negotiation (ALPN) Protocol
IDs" registry, less ``co`` (CoAP over DTLS, which unisock does not speak).  Any other id
goes in ``alpn=[...]`` with ``type="tls"`` or ``"quic"``: as a ``type`` it would more likely
be a typo (``"tsl"``) than a protocol, and taking it as an ALPN id would offer TLS to a
server that may not speak it.
"""

from __future__ import annotations

__all__ = ["IANA_IDS", "QUIC_IDS", "is_quic_alpn"]

IANA_IDS: tuple[str, ...] = (
    "http/0.9",
    "http/1.0",
    "http/1.1",
    "spdy/1",
    "spdy/2",
    "spdy/3",
    "stun.turn",
    "stun.nat-discovery",
    "h2",
    "h2c",
    "webrtc",
    "c-webrtc",
    "ftp",
    "imap",
    "pop3",
    "managesieve",
    "coap",
    "xmpp-client",
    "xmpp-server",
    "acme-tls/1",
    "mqtt",
    "dot",
    "ntske/1",
    "sunrpc",
    "h3",
    "smb",
    "irc",
    "nntp",
    "nnsp",
    "doq",
    "sip/2",
    "tds/8.0",
    "dicom",
    "postgresql",
    "radius/1.0",
    "radius/1.1",
)
"""The registry's ids, in its order (``--help`` lists them so)."""

QUIC_IDS: tuple[str, ...] = ("h3", "doq")
"""The registry's ids that run over QUIC."""


def is_quic_alpn(alpn: str) -> bool:
    """``h3``, ``doq`` and the drafts' ``h3-NN``/``hq-*`` run over QUIC, the rest over TLS."""
    return alpn in QUIC_IDS or alpn.startswith(("h3-", "hq-"))
