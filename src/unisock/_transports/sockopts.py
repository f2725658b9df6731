"""The socket options unisock sets, one setter each, for every transport.

A refusal by the OS is a ``NetworkError`` naming the field and the value ("cannot set
ttl=300: Invalid argument (EINVAL)", through ``errors.network_error``); the few options that
are only a hint (``no_delay``, TCP Fast Open, the RST linger, QUIC's big buffers) never fail.

TCP keep-alive (``keep_alive`` seconds; ``0`` turns it off).  Why both the idle time and
the interval: the kernel's defaults are two hours idle and 75 s between probes, so a dead
peer behind a NAT or a pulled cable is noticed after more than two hours.  ``keep_alive=N``
sets ``TCP_KEEPIDLE`` and ``TCP_KEEPINTVL`` to ``N`` (as Go's ``net.Dialer.KeepAlive``
does) and leaves the probe count to the kernel (9 on Linux): a silent peer is given up
after about ``10 * N`` seconds, and the socket then fails with ``NetworkError``
(``ETIMEDOUT``).  Fractions of a second round up: the kernel counts whole seconds.
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
import sys

from ..errors import network_error

__all__ = [
    "enable_gro",
    "keep_alive_seconds",
    "set_big_buffers",
    "set_buffer_size",
    "set_fast_open",
    "set_ipv6_only",
    "set_keep_alive",
    "set_no_delay",
    "set_option",
    "set_reset_on_close",
    "set_reuse_address",
    "set_reuse_port",
    "set_ttl",
]

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


def set_option(sock: socket.socket, level: int, option: int, value: int | bytes, what: str) -> None:
    """``setsockopt``; a refusal is ``NetworkError("<what>: <reason> (<ERRNO>)")``."""
    try:
        sock.setsockopt(level, option, value)
    except OSError as exc:
        raise network_error(exc, what) from None


_BUFFERS = {"send_buffer_size": socket.SO_SNDBUF, "receive_buffer_size": socket.SO_RCVBUF}


def set_buffer_size(sock: socket.socket, field: str, size: int) -> None:
    """``send_buffer_size`` (SO_SNDBUF) or ``receive_buffer_size`` (SO_RCVBUF)."""
    set_option(sock, socket.SOL_SOCKET, _BUFFERS[field], size, f"cannot set {field}={size!r}")


def set_ttl(sock: socket.socket, ttl: int) -> None:
    """IP_TTL (IPv4) or IPV6_UNICAST_HOPS (IPv6)."""
    if sock.family == socket.AF_INET6:
        level, option = socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS
    else:
        level, option = socket.IPPROTO_IP, socket.IP_TTL
    set_option(sock, level, option, ttl, f"cannot set ttl={ttl!r}")


def set_reuse_address(sock: socket.socket) -> None:
    """SO_REUSEADDR: a listener may bind while old connections linger in TIME_WAIT."""
    set_option(sock, socket.SOL_SOCKET, socket.SO_REUSEADDR, 1, "cannot set SO_REUSEADDR")


def set_reuse_port(sock: socket.socket) -> None:
    """SO_REUSEPORT: several sockets share the port, the kernel spreading peers over them."""
    set_option(sock, socket.SOL_SOCKET, socket.SO_REUSEPORT, 1, "cannot set reuse_port=True")


def set_ipv6_only(sock: socket.socket, value: bool) -> None:
    """IPV6_V6ONLY on an IPv6 socket (off: ``::`` takes IPv4 peers too); nothing on IPv4."""
    if sock.family == socket.AF_INET6:
        set_option(
            sock,
            socket.IPPROTO_IPV6,
            socket.IPV6_V6ONLY,
            int(value),
            f"cannot set ipv6_only={value!r}",
        )


def set_no_delay(sock: socket.socket | None, value: bool) -> None:
    """TCP_NODELAY on a TCP socket (a hint: never fails)."""
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)


def set_fast_open(sock: socket.socket, queue: int = 256) -> None:
    """TCP Fast Open on a listening socket: data on SYNs, where the kernel has it."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, queue)


def set_reset_on_close(sock: socket.socket) -> None:
    """SO_LINGER 0: closing sends a TCP RST, not a FIN (an abrupt end must not look like
    the normal end of the conversation)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def set_big_buffers(sock: socket.socket, size: int) -> None:
    """Kernel buffers of ``size`` both ways so bursts are not dropped (QUIC); the kernel
    caps them (``net.core.rmem_max``), and that is never fatal."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, size)


_SOL_UDP = getattr(socket, "SOL_UDP", 17)
_UDP_GRO = 104  # linux/udp.h


def enable_gro(sock: socket.socket) -> bool:
    """Ask for UDP generic receive offload (Linux); whether the kernel agreed."""
    if sys.platform != "linux" or not hasattr(socket, "CMSG_SPACE"):
        return False
    try:
        sock.setsockopt(_SOL_UDP, _UDP_GRO, 1)
        return bool(sock.getsockopt(_SOL_UDP, _UDP_GRO))
    except OSError:
        return False
