"""unisock: one small, fast, modern sockets API for Python.

TCP, UDP, TLS (with STARTTLS upgrade) and QUIC behind one ``Socket`` and one
``SocketListener``, with web-standard streams, awaitable ``ready``/``closed``,
``AbortSignal``, event listeners, live stats and TLS details.
"""

from __future__ import annotations

from . import errors
from ._deferred import Deferred
from .abort import AbortController, AbortSignal
from .events import Event, EventTarget

__version__ = "0.1.0.dev0"

__all__ = [
    "AbortController",
    "AbortSignal",
    "Deferred",
    "Event",
    "EventTarget",
    "errors",
]
