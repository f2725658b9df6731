"""Reusable receive buffers, one per purpose per thread.

A buffer here is filled by one read and copied out (into ``bytes``, or through the TLS
layer) before anything else runs on the thread's event loop, which runs one callback at
a time: so one buffer per purpose serves every socket of that thread, and a thousand
sockets cost one buffer, not a thousand.  Per thread, because each thread may run a loop.
"""

from __future__ import annotations

import threading

__all__ = ["thread_buffer"]


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.by_name: dict[str, memoryview] = {}


_buffers = _Buffers()


def thread_buffer(name: str, size: int) -> memoryview:
    """This thread's buffer for ``name`` (made on first use, ``size`` bytes)."""
    found = _buffers.by_name.get(name)
    if found is None or len(found) != size:
        found = _buffers.by_name[name] = memoryview(bytearray(size))
    return found
