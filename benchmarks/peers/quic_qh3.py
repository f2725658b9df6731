"""Peer: plain qh3 (Rust QUIC core, aioquic's API) through ``qh3.asyncio.serve`` / ``connect``.

See peers/_quic_raw.py for the modes and the request protocol.
"""

from __future__ import annotations

import _quic_raw

if __name__ == "__main__":
    _quic_raw.main("qh3")
