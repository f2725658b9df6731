"""Opening TCP connections: resolution, Happy Eyeballs (RFC 8305) and socket options.

Done here rather than with ``loop.create_connection(host, port)`` because uvloop has no
Happy Eyeballs and because options such as ``ttl``, buffer sizes and ``local`` must be set
on the socket before it connects.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Callable
from typing import Any

from .._base.address import SocketAddress
from .._base.options import Options
from .._runtime import checkpoint, is_asyncio, transport_now
from .._runtime.base import Runtime, Task
from ..errors import NetworkError, network_error
from .adopt import claim
from .base import StreamTransport
from .resolve import interleave
from .resolve import resolve as resolve_name
from .sockopts import (
    set_buffer_size,
    set_keep_alive,
    set_no_delay,
    set_reset_on_close,
    set_ttl,
)

__all__ = ["apply_socket_options", "open_tcp", "resolve"]

HAPPY_EYEBALLS_DELAY = 0.25


async def resolve(loop: Runtime, address: SocketAddress, sock_type: int) -> list[tuple[int, Any]]:
    """(family, sockaddr) pairs for ``address``, IPv6 and IPv4 interleaved."""
    return interleave(await resolve_name(loop, address.address, address.port, kind=sock_type))


def apply_socket_options(sock: socket.socket, opts: Options) -> None:
    """Buffer sizes, TTL and keep-alive; errors name the option."""
    if opts.keep_alive:
        set_keep_alive(sock, opts.keep_alive)
    if opts.send_buffer_size is not None:
        set_buffer_size(sock, "send_buffer_size", opts.send_buffer_size)
    if opts.receive_buffer_size is not None:
        set_buffer_size(sock, "receive_buffer_size", opts.receive_buffer_size)
    if opts.ttl is not None:
        set_ttl(sock, opts.ttl)


def reset(transport: Any) -> None:
    """Abort with a TCP RST (SO_LINGER 0), not a FIN: an abrupt end must not look like the
    normal end of the conversation to the peer."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        set_reset_on_close(sock)
    transport.abort()


def reset_socket(sock: socket.socket) -> None:
    """Close a connected socket with a TCP RST (``reset`` for a socket no transport owns)."""
    if sock.fileno() < 0:
        return
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        set_reset_on_close(sock)
    sock.close()


async def _attempt(loop: Runtime, family: int, sockaddr: Any, opts: Options) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        apply_socket_options(sock, opts)
        if opts.local is not None:
            try:
                sock.bind((opts.local.address, opts.local.port))
            except OSError as exc:
                raise network_error(exc, f"cannot bind to local {opts.local}") from None
        await loop.sock_connect(sock, sockaddr)
    except Exception:
        sock.close()
        raise
    except BaseException:  # cancelled (asyncio or trio): the socket was aborted, and the
        _close_with_reset(sock)  # handshake may have completed already: RST, not FIN
        raise
    return sock


def _close_with_reset(sock: socket.socket) -> None:
    set_reset_on_close(sock)
    sock.close()


async def _race(loop: Runtime, targets: list[tuple[int, Any]], opts: Options) -> socket.socket:
    """Start an attempt every 250 ms until one connects; the first to connect wins."""
    if len(targets) == 1:  # nothing to race: no task, no wait
        family, sockaddr = targets[0]
        try:
            return await _attempt(loop, family, sockaddr, opts)
        except OSError as failure:
            raise _network_error([failure], opts) from None
    errors: list[OSError] = []
    pending: list[Task[socket.socket]] = []
    winner: socket.socket | None = None
    remaining = list(targets)
    wake: Any = None  # a future settled when an attempt finishes or the delay is up

    def finished(_: Any) -> None:
        if wake is not None and not wake.done():
            wake.set_result(None)

    try:
        while remaining or pending:
            if remaining:
                family, sockaddr = remaining.pop(0)
                task = loop.create_task(_attempt(loop, family, sockaddr, opts))
                task.add_done_callback(finished)
                pending.append(task)
            if not any(task.done() for task in pending):
                wake = loop.create_future()
                timer = loop.call_later(HAPPY_EYEBALLS_DELAY, finished, None) if remaining else None
                try:
                    await wake
                finally:
                    wake = None
                    if timer is not None:
                        timer.cancel()
            for task in [t for t in pending if t.done()]:
                pending.remove(task)
                exc = task.exception()
                if exc is None:
                    if winner is None:
                        winner = task.result()
                    else:
                        task.result().close()
                elif isinstance(exc, OSError):
                    errors.append(exc)
                else:
                    raise exc
            if winner is not None:
                return winner
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                sock = await task
                sock.close()
    raise _network_error(errors, opts)


def _network_error(errors: list[OSError], opts: Options) -> NetworkError:
    if not errors:
        return NetworkError(f"cannot connect to {opts.remote}")
    return network_error(errors[0], f"cannot connect to {opts.remote}")


_MSG_FASTOPEN = getattr(socket, "MSG_FASTOPEN", 0)


async def _wait_connected(loop: Runtime, sock: socket.socket) -> None:
    """Wait for a connect already under way (after a Fast Open send) to finish."""
    done = loop.create_future()
    fd = sock.fileno()

    def writable() -> None:
        if done.done():
            return
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            done.set_exception(OSError(err, os.strerror(err)))
        else:
            done.set_result(None)

    loop.add_writer(fd, writable)
    try:
        await done
    finally:
        loop.remove_writer(fd)


async def _fast_open(
    loop: Runtime, family: int, sockaddr: Any, opts: Options, data: bytes
) -> tuple[socket.socket, int]:
    """Connect with TCP Fast Open: ``data`` rides on the SYN when the kernel has a cookie.

    Returns the socket and how many bytes of ``data`` went out; where the kernel or the
    platform refuses Fast Open, it falls back to a plain connect (0 bytes sent).
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        apply_socket_options(sock, opts)
        set_no_delay(sock, True)
        try:
            sent = sock.sendto(data, _MSG_FASTOPEN, sockaddr)
        except BlockingIOError:
            sent = 0  # SYN sent (asking for a cookie): the data follows the handshake
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOPROTOOPT, errno.EINVAL):
                raise
            sock.close()
            return await _attempt(loop, family, sockaddr, opts), 0
        await _wait_connected(loop, sock)
    except BaseException:
        sock.close()
        raise
    return sock, sent


async def _adopt(
    loop: Runtime, sock: socket.socket, protocol_factory: Callable[[], Any]
) -> StreamTransport:
    """Hand a connected socket to the runtime, never cancelled half-way.

    uvloop closes the fd itself when ``create_connection(sock=...)`` is interrupted,
    while the Python socket object still holds the number: closing that object too would
    close whichever file got the number next.  So the hand-over runs as a task of its own
    and a cancelled caller lets it finish and aborts the transport it produced.
    """
    if not is_asyncio(loop):
        # trio makes the transport at once: no task, future or done callback (a third
        # of a client handshake's Python calls on trio).  One checkpoint first, so what
        # is already due runs before the socket opens; an abort landing there resets
        # the established connection, as ``_abort_adopted`` does below.
        try:
            await checkpoint(loop)
        except BaseException:
            reset_socket(sock)
            raise
        try:
            made = transport_now(loop, protocol_factory, sock)
        except BaseException:
            if sock.fileno() >= 0:
                sock.close()
            raise
        if made is not None:
            return made[0]  # type: ignore[no-any-return]
    adopting = loop.create_task(loop.create_connection(protocol_factory, sock=sock))
    if not adopting.done():
        handed_over = loop.create_future()

        def handed(_: Any) -> None:
            if not handed_over.done():
                handed_over.set_result(None)

        adopting.add_done_callback(handed)
        try:
            await handed_over
        except BaseException:  # cancelled: the transport it makes is aborted
            adopting.add_done_callback(_abort_adopted)
            raise
    try:
        transport, _ = adopting.result()
    except BaseException:
        if sock.fileno() >= 0 and not _is_uvloop(loop):
            sock.close()
        raise
    return transport  # type: ignore[no-any-return]


def _abort_adopted(adopting: Any) -> None:
    if not adopting.cancelled() and adopting.exception() is None:
        reset(adopting.result()[0])  # the socket was aborted while this ran: RST


def _is_uvloop(loop: Runtime) -> bool:
    return type(loop).__module__.startswith("uvloop")


async def open_tcp(
    loop: Runtime,
    opts: Options,
    protocol_factory: Callable[[], Any],
    fast_open: bytes | None = None,
) -> tuple[StreamTransport, int]:
    """Connect; with ``fast_open`` data (and one address to try), send it on the SYN.

    Returns the transport and how many bytes of ``fast_open`` are already sent.
    """
    assert opts.remote is not None
    if opts.sock is not None:
        return await _adopt_connected(loop, opts, protocol_factory), 0
    if opts.remote.path is not None:  # a Unix stream socket: no resolution, no race
        from .unix import connect_stream

        sock = await connect_stream(loop, opts.remote.path)
        try:
            apply_socket_options(sock, opts)  # buffer sizes (IP options were refused)
        except BaseException:
            sock.close()
            raise
        return await _adopt(loop, sock, protocol_factory), 0
    targets = await resolve(loop, opts.remote, socket.SOCK_STREAM)
    sent = 0
    if fast_open and _MSG_FASTOPEN and len(targets) == 1 and opts.local is None:
        family, sockaddr = targets[0]
        try:
            sock, sent = await _fast_open(loop, family, sockaddr, opts, fast_open)
        except OSError as exc:
            raise _network_error([exc], opts) from None
    else:
        sock = await _race(loop, targets, opts)
    set_no_delay(sock, opts.no_delay)
    transport = await _adopt(loop, sock, protocol_factory)
    set_no_delay(transport.get_extra_info("socket"), opts.no_delay)
    return transport, sent


async def _adopt_connected(
    loop: Runtime, opts: Options, protocol_factory: Callable[[], Any]
) -> StreamTransport:
    """A connected socket handed over (``sock=``), with the options set as on our own."""
    sock = opts.sock
    assert sock is not None
    if sock.fileno() < 0:
        raise NetworkError(f"the adopted socket was closed before it was used: {sock!r}")
    try:
        sock.setblocking(False)
        apply_socket_options(sock, opts)
    except BaseException:
        sock.close()
        raise
    set_no_delay(sock, opts.no_delay)
    claim(sock)
    transport = await _adopt(loop, sock, protocol_factory)
    set_no_delay(transport.get_extra_info("socket"), opts.no_delay)
    return transport
