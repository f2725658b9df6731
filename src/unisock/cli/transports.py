"""What ``--type`` accepts: a transport, or an ALPN id of the IANA registry.

The library decides the same (a ``type`` that is neither is a ``ValueError``); the command
line checks first so that ``--help`` can list the choices and a typo such as ``tsl`` is a
usage error before anything is sent.  ``--type tls --alpn ID`` takes any id.
"""

from __future__ import annotations

import argparse
import difflib

from ..alpn import IANA_IDS, QUIC_IDS, is_quic_alpn

__all__ = ["ALPN_IDS", "QUIC_ALPN_IDS", "TRANSPORTS", "check_type", "is_quic_alpn", "type_help"]

TRANSPORTS = ("tcp", "udp", "tls", "quic")

ALPN_IDS = IANA_IDS
QUIC_ALPN_IDS = QUIC_IDS


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
