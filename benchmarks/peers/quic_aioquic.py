"""Peer: plain aioquic through its asyncio API (``aioquic.asyncio.serve`` / ``connect``).

See peers/_quic_raw.py for the modes and the request protocol.
"""

from __future__ import annotations

import _quic_raw

if __name__ == "__main__":
    _quic_raw.main("aioquic")
