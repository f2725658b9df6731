"""unisock: one small, fast, modern sockets API for Python.

TCP, UDP, TLS (with STARTTLS upgrade) and QUIC behind one ``Socket`` and one
``SocketListener``, with web-standard streams, awaitable ``ready``/``closed``,
``AbortSignal``, event listeners, live stats and TLS details.
"""

from __future__ import annotations

from . import errors
from ._api.listener import SocketListener
from ._api.socket import Socket, connect
from ._api.socket_events import ErrorEvent, SocketDataEvent, SocketEvent
from ._base.address import SocketAddress
from ._base.deferred import Deferred
from ._base.options import SocketInit, SocketListenerInit
from ._base.records import CipherInfo, EphemeralKeyInfo, SocketInfo, SocketStats
from .abort import AbortController, AbortSignal
from .events import Event, EventTarget

__version__ = "0.1.0.dev0"

__all__ = [
    "AbortController",
    "AbortSignal",
    "CipherInfo",
    "Datagram",
    "Deferred",
    "EphemeralKeyInfo",
    "ErrorEvent",
    "Event",
    "EventTarget",
    "Socket",
    "SocketAddress",
    "SocketDataEvent",
    "SocketEvent",
    "SocketInfo",
    "SocketInit",
    "SocketListener",
    "SocketListenerInit",
    "SocketStats",
    "connect",
    "errors",
]


def __getattr__(name: str) -> object:
    if name == "Datagram":
        from ._api.udp import Datagram

        return Datagram
    raise AttributeError(f"module 'unisock' has no attribute {name!r}")
