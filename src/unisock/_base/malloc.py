"""glibc malloc tuning, so per-chunk ``bytes`` do not cost page faults.

Every chunk a socket delivers is a new ``bytes`` of up to 256 KiB.  With glibc's defaults
such a buffer is carved from the top of the heap (or mmapped), and freeing it gives the
pages back to the kernel (trim/munmap), so the next chunk faults them in again: measured
here, 58 page faults per 256 KiB chunk and 2.2 s of kernel time per 2.4 GB, capping a
streams consumer at about 1 GB/s on the stock loop.  Keeping some heap instead of
trimming it removes that (3+ GB/s).  The cost is that up to ~48 MiB of freed memory stays
with the process.  Set ``UNISOCK_MALLOC_TUNING=0`` to leave malloc alone.
"""

from __future__ import annotations

import os
import sys

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

_done = False


def tune_malloc() -> None:
    """Apply the tuning once per process (glibc only; a no-op elsewhere)."""
    global _done
    if _done:
        return
    _done = True
    if os.environ.get("UNISOCK_MALLOC_TUNING", "1") == "0":
        return
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # loaded only here, at the first socket: ctypes and platform cost
    import platform  # several milliseconds of import time

    if platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, 4 << 20)
    mallopt(_M_TRIM_THRESHOLD, 32 << 20)
    mallopt(_M_TOP_PAD, 16 << 20)
