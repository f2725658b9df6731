"""Unix domain sockets: connecting, listening, and datagram sockets on a path.

A path is a file the listener owns: binding over a *live* socket file (another server is
accepting on it) is refused with ``EADDRINUSE``, as a TCP port in use is; a *stale* one
(left by a server that died: connecting to it is refused) is removed first, as Node, Go
and systemd do; a file that is not a socket is never removed.  ``mode`` sets its
permissions (who may connect).  Closing the listener removes the file, unless another
process has replaced it meanwhile (same path, another inode).

Linux abstract names (``"\\0name"``, written ``unix:@name``) have no file: none of this
applies to them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from typing import Any

from .._runtime.base import Runtime
from ..errors import NetworkError, network_error

__all__ = [
    "MAX_PATH_BYTES",
    "PathOwner",
    "connect_stream",
    "datagram_socket",
    "listening_socket",
]

MAX_PATH_BYTES = 107
"""``sun_path`` holds 108 bytes on Linux, the last one a NUL (for a file path)."""


def _is_abstract(path: str) -> bool:
    return path.startswith("\0")


class PathOwner:
    """Removes a listener's socket file when it closes, if the file is still ours."""

    __slots__ = ("_inode", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._inode = os.stat(path).st_ino

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)


def _clear_stale(path: str) -> None:
    """Remove a socket file nobody accepts on; refuse a live one or a non-socket."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise network_error(exc, f"cannot listen on unix:{path}") from None
    if not stat.S_ISSOCK(info.st_mode):
        raise NetworkError(
            f"cannot listen on unix:{path}: the file exists and is not a socket "
            "(unisock removes only stale socket files)",
            errno.EEXIST,
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # stale: its server is gone
            return
        except BlockingIOError:
            pass  # a full backlog: someone is listening
        except OSError as exc:
            if exc.errno == errno.EPROTOTYPE:  # a datagram socket's file
                return _clear_stale_datagram(path)
            raise network_error(exc, f"cannot listen on unix:{path}") from None
    finally:
        probe.close()
    raise NetworkError(
        f"cannot listen on unix:{path}: another process is accepting on it", errno.EADDRINUSE
    )


def _clear_stale_datagram(path: str) -> None:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as exc:
        raise network_error(exc, f"cannot bind unix:{path}") from None
    finally:
        probe.close()
    raise NetworkError(f"cannot bind unix:{path}: a socket is bound to it", errno.EADDRINUSE)


def listening_socket(path: str, backlog: int, mode: int | None) -> tuple[socket.socket, Any]:
    """A listening stream socket on ``path`` and what removes its file on close."""
    if not _is_abstract(path):
        _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind(path)
        owner = None if _is_abstract(path) else PathOwner(path)
        try:
            if mode is not None and owner is not None:
                os.chmod(path, mode)
            sock.listen(backlog)
        except BaseException:
            if owner is not None:
                owner.close()
            raise
    except OSError as exc:
        sock.close()
        raise network_error(exc, f"cannot listen on unix:{path}") from None
    except BaseException:
        sock.close()
        raise
    return sock, owner


async def connect_stream(loop: Runtime, path: str) -> socket.socket:
    """A connected stream socket to ``path`` (a refused or missing path is a NetworkError
    naming it)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, path)
    except OSError as exc:
        sock.close()
        raise network_error(exc, f"cannot connect to unix:{path}") from None
    except BaseException:
        sock.close()
        raise
    return sock


def datagram_socket(local: str | None, remote: str | None) -> tuple[socket.socket, Any]:
    """A datagram socket bound to ``local`` (else an autobound abstract name, so that
    replies can come back) and connected to ``remote`` if given; and its file's owner."""
    if local is not None and not _is_abstract(local):
        _clear_stale(local)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    owner = None
    try:
        sock.setblocking(False)
        sock.bind(local if local is not None else "")  # "": the kernel picks a name
        if local is not None and not _is_abstract(local):
            owner = PathOwner(local)
        if remote is not None:
            sock.connect(remote)
    except OSError as exc:
        sock.close()
        if owner is not None:
            owner.close()
        where = f"unix:{remote}" if remote is not None else f"unix:{local}"
        raise network_error(exc, f"cannot open a datagram socket to {where}") from None
    return sock, owner
