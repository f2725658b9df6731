"""What ``--type`` accepts: a transport, or an ALPN id of the IANA registry.

The library decides the same (a ``type`` that is neither is a ``ValueError``); the command
line checks first so that ``--help`` can list the choices and a typo such as ``tsl`` is a
usage error before anything is sent.  ``--type tls --alpn ID`` takes any id.
"""

from __future__ import annotations

import argparse
import difflib

__all__ = ["ALPN_IDS", "QUIC_ALPN_IDS", "TRANSPORTS", "check_type", "is_quic_alpn", "type_help"]

TRANSPORTS = ("tcp", "udp", "tls", "quic")

ALPN_IDS = (
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
"""The IANA "TLS Application-Layer Protocol Negotiation (ALPN) Protocol IDs" registry, less
``co`` (CoAP over DTLS, which unisock does not speak), as the library takes them."""

QUIC_ALPN_IDS = ("h3", "doq")


def is_quic_alpn(alpn: str) -> bool:
    """``h3``, ``doq`` and the drafts' ``h3-NN``/``hq-*`` run over QUIC, the rest over TLS."""
    return alpn in QUIC_ALPN_IDS or alpn.startswith(("h3-", "hq-"))


def check_type(value: str) -> str:
    """The ``--type`` converter: a transport or a registered ALPN id, else a usage error."""
    if value in TRANSPORTS or value in ALPN_IDS or is_quic_alpn(value):
        return value
    close = difflib.get_close_matches(value.lower(), (*TRANSPORTS, *ALPN_IDS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a type: {hint}give tcp, udp, tls, quic or an ALPN id of the IANA "
        "registry (listed in --help); for any other id: --type tls --alpn ID"
    )


def type_help(default: str) -> str:
    """The ``--type`` help text, listing every choice."""
    transports = ", ".join(f"{t} (default)" if t == default else t for t in TRANSPORTS)
    tls_ids = ", ".join(a for a in ALPN_IDS if not is_quic_alpn(a))
    return (
        f"transport: {transports}, or an ALPN id of the IANA registry, meaning TLS with that "
        f"ALPN ({tls_ids}) or QUIC with it ({', '.join(QUIC_ALPN_IDS)}, and the drafts' "
        "h3-NN, hq-NAME); "
        "any other id: --type tls (or quic) --alpn ID"
    )
