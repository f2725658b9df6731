"""The events a socket and a listener dispatch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..events import Event

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["ErrorEvent", "SocketDataEvent", "SocketEvent"]


class SocketDataEvent(Event):
    """``"data"``: chunks as they arrived (no queuing, no backpressure).

    What every ``"data"`` event shares is a class constant (shadowing ``Event``'s slots,
    read-only here): the per-chunk entry writes only the fields that vary (issue 14).
    """

    __slots__ = ("buffers",)

    type = "data"
    cancelable = False
    _default_prevented = False  # never set: prevent_default() needs a cancelable event

    def __init__(self, buffers: list[bytes]) -> None:
        self.target = None
        self.current_target = None
        self.time_stamp = time.monotonic()
        self._stop = False
        self.buffers = buffers


class SocketEvent(Event):
    """``"socket"``: a listener accepted a socket (or a peer opened a QUIC stream)."""

    __slots__ = ("socket",)

    def __init__(self, socket: Socket, type: str = "socket") -> None:
        super().__init__(type)
        self.socket = socket


class ErrorEvent(Event):
    """``"error"``: what went wrong, in ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException, type: str = "error") -> None:
        super().__init__(type)
        self.error: Any = error
