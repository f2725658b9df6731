"""The TCP/TLS listener's own accept loop, in place of ``loop.create_server``.

Why not ``create_server``: out of file descriptors (``EMFILE``/``ENFILE``), asyncio's
accept loop logs a traceback for every attempt and schedules up to ``backlog`` retries per
failure (tens of thousands of log lines a second), while uvloop (libuv) accepts and drops
the pending connections without a word.  Here, on both loops:

* readiness of a listening socket accepts up to ``_BATCH`` connections at once, each
  handed to ``loop.connect_accepted_socket`` (the loop's own transport);
* a resource error (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``) pauses accepting on
  every listening socket and retries after a delay that doubles from ``RETRY_FIRST`` up to
  ``RETRY_MAX`` seconds (as trio does, with a backoff).  Pending connections wait in the
  kernel's backlog; nothing is dropped by unisock;
* one WARNING goes to the ``"unisock"`` logger per episode, and one INFO line when the
  first connection is accepted again.  An episode ends once no resource error has been
  seen for ``EPISODE_GAP`` seconds, so a server that stays at its limit while connections
  come and go logs one line, not one per freed descriptor;
* errors the kernel reports for one connection (``ECONNABORTED``, ``EPROTO``, network
  errors: see accept(2)) skip that connection; any other error means the listening socket
  itself is broken, and the listener fails with it (an ``"error"`` event).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from .._runtime import transport_now
from .._runtime.base import Handle, Runtime
from .resolve import resolve
from .sockopts import set_fast_open, set_ipv6_only, set_reuse_address, set_reuse_port

logger = logging.getLogger("unisock")

RETRY_FIRST = 0.05
RETRY_MAX = 1.0
EPISODE_GAP = 30.0
_BATCH = 128  # connections accepted per readiness event (asyncio uses the backlog)

_RESOURCE = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_PER_CONNECTION = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNABORTED",
        "ECONNRESET",
        "EPROTO",
        "ENOPROTOOPT",
        "EHOSTDOWN",
        "ENONET",
        "EHOSTUNREACH",
        "EOPNOTSUPP",
        "ENETDOWN",
        "ENETUNREACH",
        "EPERM",  # a firewall rule refused the connection
        "ETIMEDOUT",
    )
    if hasattr(errno, name)
)


async def open_listening_sockets(
    loop: Runtime,
    host: str | None,
    port: int,
    *,
    backlog: int,
    reuse_port: bool,
    prebound: socket.socket | None = None,
) -> list[socket.socket]:
    """Bound, listening, non-blocking TCP sockets for ``host``: what ``create_server`` made.

    ``prebound`` is a socket already bound by the caller (the dual-stack IPv6 one).  For a
    host name, one socket per address it resolves to (IPv6 ones are IPv6-only, as with
    ``create_server``).
    """
    sockets: list[socket.socket] = []
    try:
        if prebound is not None:
            sockets.append(prebound)
        else:
            found = await resolve(loop, host, port, kind=socket.SOCK_STREAM, passive=True)
            for family, address in found:
                sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                sockets.append(sock)
                set_reuse_address(sock)
                if reuse_port:
                    set_reuse_port(sock)
                set_ipv6_only(sock, True)
                try:
                    sock.bind(address)
                except OSError as exc:
                    raise OSError(
                        exc.errno,
                        f"error while attempting to bind on address {address!r}: "
                        f"{(exc.strerror or str(exc)).lower()}",
                    ) from None
        for sock in sockets:
            sock.listen(backlog)
            sock.setblocking(False)
            set_fast_open(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Acceptor:
    """Accepts on ``sockets`` until closed; see the module docstring for the policy.

    ``protocol_factory`` makes the protocol of each accepted connection; ``on_error`` is
    called (once) with an error that broke a listening socket.
    """

    __slots__ = (
        "_closed",
        "_delay",
        "_episode",
        "_failures",
        "_last_failure",
        "_loop",
        "_on_error",
        "_paused",
        "_protocol_factory",
        "_recovery_logged",
        "_retry",
        "_what",
        "sockets",
    )

    def __init__(
        self,
        loop: Runtime,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], Any],
        on_error: Callable[[BaseException], None],
        what: str,
    ) -> None:
        self._loop = loop
        self.sockets = sockets
        self._protocol_factory = protocol_factory
        self._on_error = on_error
        self._what = what  # names the listener in log lines
        self._closed = False
        self._delay = RETRY_FIRST
        self._retry: Handle | None = None
        self._episode: float | None = None  # monotonic start of a resource episode
        self._last_failure = 0.0
        self._failures = 0  # resource errors in this episode
        self._paused = False  # a resource error since the last accepted connection
        self._recovery_logged = False
        self._watch()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._unwatch()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for sock in self.sockets:
            sock.close()

    # -- readiness --------------------------------------------------------------------
    def _watch(self) -> None:
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _unwatch(self) -> None:
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())

    def _accept(self, listening: socket.socket) -> None:
        for _ in range(_BATCH):
            if self._closed or self._retry is not None:
                return
            try:
                conn, _address = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE:
                    self._pause(exc)
                    return
                if exc.errno in _PER_CONNECTION:
                    continue
                self.close()
                self._on_error(exc)
                return
            if self._paused:
                self._recovered()
            self._start(conn)

    def _start(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(False)
        except BaseException:
            conn.close()
            raise
        try:
            made = transport_now(self._loop, self._protocol_factory, conn)
        except Exception:  # as the task's error below: that connection's business only
            conn.close()
            return
        if made is not None:
            return
        try:
            task = self._loop.create_task(
                self._loop.connect_accepted_socket(self._protocol_factory, conn)
            )
        except BaseException:
            conn.close()
            raise

        def done(t: Any) -> None:
            # A connection that fails while its transport is made (reset, or the
            # listener's socket options refused) is that connection's business only.
            if t.cancelled() or t.exception() is not None:
                conn.close()

        task.add_done_callback(done)

    # -- out of resources ---------------------------------------------------------------
    def _pause(self, exc: OSError) -> None:
        now = time.monotonic()
        if self._episode is None or now - self._last_failure > EPISODE_GAP:
            self._episode = now
            self._failures = 0
            self._recovery_logged = False
            self._delay = RETRY_FIRST
            logger.warning(
                "%s: cannot accept connections: %s (%s); pausing accepting, retrying "
                "every %g to %g s (logged once per episode)",
                self._what,
                exc.strerror or exc,
                errno.errorcode.get(exc.errno or 0, exc.errno),
                RETRY_FIRST,
                RETRY_MAX,
            )
        elif self._paused:  # failed again since the last retry: back off further
            self._delay = min(self._delay * 2, RETRY_MAX)
        self._failures += 1
        self._last_failure = now
        self._paused = True
        self._unwatch()
        self._retry = self._loop.call_later(self._delay, self._resume)

    def _resume(self) -> None:
        self._retry = None
        if not self._closed:
            self._watch()  # a ready socket makes the next attempt at once

    def _recovered(self) -> None:
        assert self._episode is not None
        if not self._recovery_logged:
            self._recovery_logged = True
            logger.info(
                "%s: accepting connections again after %.1f s (%d failed attempts)",
                self._what,
                time.monotonic() - self._episode,
                self._failures,
            )
        self._paused = False
        self._delay = RETRY_FIRST
