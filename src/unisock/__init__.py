"""unisock: one small, fast, modern sockets API for Python.

TCP, UDP, TLS (with STARTTLS upgrade) and QUIC behind one ``Socket`` and one
``SocketListener``, with web-standard streams, awaitable ``ready``/``closed``,
``AbortSignal``, event listeners, live stats and TLS details.

The public names load on first use (PEP 562): ``import unisock`` costs next to nothing,
and a program pays for the parts it touches (TLS and QUIC load only with a socket of
that type).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: importing typing would cost more than the rest

if TYPE_CHECKING:
    from . import errors as errors
    from ._api.listener import SocketListener as SocketListener
    from ._api.socket import Socket as Socket
    from ._api.socket import connect as connect
    from ._api.socket_events import ErrorEvent as ErrorEvent
    from ._api.socket_events import SocketDataEvent as SocketDataEvent
    from ._api.socket_events import SocketEvent as SocketEvent
    from ._api.udp import Datagram as Datagram
    from ._base.address import SocketAddress as SocketAddress
    from ._base.deferred import Deferred as Deferred
    from ._base.options import SocketInit as SocketInit
    from ._base.options import SocketListenerInit as SocketListenerInit
    from ._base.records import CipherInfo as CipherInfo
    from ._base.records import EphemeralKeyInfo as EphemeralKeyInfo
    from ._base.records import SocketInfo as SocketInfo
    from ._base.records import SocketStats as SocketStats
    from .abort import AbortController as AbortController
    from .abort import AbortSignal as AbortSignal
    from .events import Event as Event
    from .events import EventTarget as EventTarget

__version__ = "0.1.0.dev0"

_WHERE = {
    "AbortController": ".abort",
    "AbortSignal": ".abort",
    "CipherInfo": "._base.records",
    "Datagram": "._api.udp",
    "Deferred": "._base.deferred",
    "EphemeralKeyInfo": "._base.records",
    "ErrorEvent": "._api.socket_events",
    "Event": ".events",
    "EventTarget": ".events",
    "Socket": "._api.socket",
    "SocketAddress": "._base.address",
    "SocketDataEvent": "._api.socket_events",
    "SocketEvent": "._api.socket_events",
    "SocketInfo": "._base.records",
    "SocketInit": "._base.options",
    "SocketListener": "._api.listener",
    "SocketListenerInit": "._base.options",
    "SocketStats": "._base.records",
    "connect": "._api.socket",
}

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
    where = _WHERE.get(name)
    if where is None:
        if name == "errors":
            return importlib.import_module(".errors", __name__)
        raise AttributeError(f"module 'unisock' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
