"""The events a socket and a listener dispatch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..events import Event, EventTarget

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["ErrorEvent", "SocketDataEvent", "SocketEvent"]


# Event's own slots, written and read through these where SocketDataEvent shadows them.
_CURRENT_TARGET_SLOT: Any = Event.__dict__["current_target"]
_STOP_SLOT: Any = Event.__dict__["_stop"]


class SocketDataEvent(Event):
    """``"data"``: chunks as they arrived (no queuing, no backpressure).

    The per-chunk entry writes only the fields that vary (issue 14): what every ``"data"``
    event shares is a class constant (shadowing ``Event``'s slots, read-only here), and
    ``current_target`` and the stop flag, set only by a dispatch or a listener, read as
    ``None`` and ``False`` until then.
    """

    __slots__ = ("buffers",)

    type = "data"
    cancelable = False
    _default_prevented = False  # never set: prevent_default() needs a cancelable event

    def __init__(self, buffers: list[bytes]) -> None:
        self.target = None
        self.time_stamp = time.monotonic()
        self.buffers = buffers

    @property
    def current_target(self) -> EventTarget | None:
        try:
            return _CURRENT_TARGET_SLOT.__get__(self)  # type: ignore[no-any-return]
        except AttributeError:
            return None

    @current_target.setter
    def current_target(self, value: EventTarget | None) -> None:
        _CURRENT_TARGET_SLOT.__set__(self, value)

    @property
    def _stop(self) -> bool:
        try:
            return _STOP_SLOT.__get__(self)  # type: ignore[no-any-return]
        except AttributeError:
            return False

    @_stop.setter
    def _stop(self, value: bool) -> None:
        _STOP_SLOT.__set__(self, value)


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
