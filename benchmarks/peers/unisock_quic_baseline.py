"""Peer: unisock_peer.py on another unisock source tree, for before/after in one run.

``UNISOCK_BENCH_BASELINE`` names a ``src`` folder holding an older ``unisock`` (for
example ``git archive <commit> src | tar -x -C /tmp/base``); without it this peer is n/a.
"""

from __future__ import annotations

import os
import sys

import _common as c

if __name__ == "__main__":
    base = os.environ.get("UNISOCK_BENCH_BASELINE")
    if not base or not os.path.isdir(os.path.join(base, "unisock")):
        c.fail("set UNISOCK_BENCH_BASELINE to a src folder holding a baseline unisock")
    sys.path.insert(0, base)
    import unisock_peer

    unisock_peer.main()
