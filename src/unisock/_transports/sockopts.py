"""TCP keep-alive on a stream socket (``keep_alive`` seconds; ``0`` turns it off).

Why both the idle time and the interval: the kernel's defaults are two hours idle and 75 s
between probes, so a dead peer behind a NAT or a pulled cable is noticed after more than
two hours.  ``keep_alive=N`` sets ``TCP_KEEPIDLE`` and ``TCP_KEEPINTVL`` to ``N`` (as Go's
``net.Dialer.KeepAlive`` does) and leaves the probe count to the kernel (9 on Linux): a
silent peer is given up after about ``10 * N`` seconds, and the socket then fails with
``NetworkError`` (``ETIMEDOUT``).  Fractions of a second round up: the kernel counts whole
seconds.
"""

from __future__ import annotations

import math
import socket

from ..errors import network_error

__all__ = ["keep_alive_seconds", "set_keep_alive"]

# Linux and Windows: TCP_KEEPIDLE; macOS names the same option TCP_KEEPALIVE.
_IDLE = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
_INTERVAL = getattr(socket, "TCP_KEEPINTVL", None)


def keep_alive_seconds(value: float) -> int:
    """The whole seconds the kernel is given for ``keep_alive=value`` (at least 1)."""
    return max(1, math.ceil(value))


def set_keep_alive(sock: socket.socket | None, value: float) -> None:
    """SO_KEEPALIVE on (with ``value`` s idle and interval) or off (``0``), on TCP only."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    if sock.type != socket.SOCK_STREAM:
        return
    try:
        if not value:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)
            return
        whole = keep_alive_seconds(value)
        if _IDLE is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _IDLE, whole)
        if _INTERVAL is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _INTERVAL, whole)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    except OSError as exc:
        raise network_error(exc, f"cannot set keep_alive={value!r}") from None
