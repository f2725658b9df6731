"""The private aioquic names the QUIC layer's limits rely on are still there.

``_quic/_flow.py`` fences every private aioquic access (stream and connection limits,
announcements, the connection state); a later aioquic that renames one fails here, loudly,
instead of silently unbounding a limit.
"""

from __future__ import annotations

from unisock._quic import _flow


def test_aioquic_still_has_what_the_limits_use() -> None:
    assert _flow.missing_internals() == []
