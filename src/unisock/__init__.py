"""unisock: one small, fast, modern sockets API for Python.

TCP, UDP, TLS (with STARTTLS upgrade) and QUIC behind one ``Socket`` and one
``SocketListener``, with web-standard streams, awaitable ``ready``/``closed``,
``AbortSignal``, event listeners, live stats and TLS details.
"""

from __future__ import annotations

from . import errors
from ._address import SocketAddress
from ._deferred import Deferred
from ._info import CipherInfo, EphemeralKeyInfo, SocketInfo, SocketStats
from ._init import SocketInit, SocketListenerInit
from ._socket_events import ErrorEvent, SocketDataEvent, SocketEvent
from .abort import AbortController, AbortSignal
from .events import Event, EventTarget
from .listener import SocketListener
from .socket import Socket, connect

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
        from ._udp_socket import Datagram

        return Datagram
    raise AttributeError(f"module 'unisock' has no attribute {name!r}")
