"""Reading a UDP endpoint with uvloop's own datagram transport (the receive loop in C).

Why: on uvloop, ``add_reader`` costs a Python callback, a ``recvfrom_into`` call and a
copy per wake-up, and the adaptive batch around it; uvloop's ``UDPTransport`` reads each
datagram in C (libuv's ``recvmsg`` loop) and calls ``datagram_received`` directly.  The
endpoint keeps everything else: sending (its own socket), options, addresses, counters,
errors and closing.  Used for the request/response policy on uvloop, for IP sockets only
(``DatagramEndpoint`` decides; QUIC's bursts keep ``add_reader``: GRO and
``end_of_batch`` need the endpoint's own reads).

How it stays a reader the endpoint can stop: uvloop has no ``pause_reading`` for
datagrams, so each ``NativeReader`` owns a *duplicate* of the endpoint's socket (same
kernel socket, another descriptor) and stopping it closes its transport; resuming makes
a new one.  uvloop releases that descriptor one loop turn after the stop (as its own
transports do).  A reader stopped before uvloop has called ``connection_made`` (it gives
the transport only then, and starts reading right after) first has its descriptor
replaced with a socket that never receives (``dup2``), so it reads nothing in between.

The endpoint falls back to ``add_reader`` when there is no descriptor to spare for the
duplicate (EMFILE) and when uvloop ends a transport on its own (a fatal error).

Differences from the ``add_reader`` path, both invisible for UDP: libuv reads with a
256,000-byte buffer, larger than any UDP payload, so no datagram is truncated (the
endpoint's EMSGSIZE report cannot happen; Unix datagram sockets, which can carry more,
keep ``add_reader``); and it reads up to 32 datagrams per wake-up on its own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

__all__ = ["NativeReader", "is_uvloop"]


def is_uvloop(runtime: object) -> bool:
    """Whether ``runtime`` is a uvloop event loop."""
    return type(runtime).__module__.startswith("uvloop")


class NativeReader:
    """One uvloop datagram transport over a duplicate of the endpoint's socket.

    ``datagram_received`` is the endpoint's delivery; ``error_received`` goes to
    ``on_error``; ``on_lost(exc)`` hears of an end that ``stop()`` did not ask for (uvloop
    gave up on the transport: a fatal error).
    """

    __slots__ = ("_dup", "_on_error", "_on_lost", "_stopped", "datagram_received", "transport")

    def __init__(
        self,
        runtime: Any,
        sock: socket.socket,
        deliver: Callable[[bytes, Any], None],
        on_error: Callable[[OSError], None],
        on_lost: Callable[[NativeReader, Exception | None], None],
    ) -> None:
        """Start reading ``sock`` (through a duplicate) on ``runtime``, a uvloop loop."""
        self.datagram_received = deliver
        self._on_error = on_error
        self._on_lost = on_lost
        self.transport: Any = None
        self._stopped = False
        dup = self._dup = sock.dup()  # uvloop owns it from here and closes it
        made: list[bool] = []

        def protocol() -> NativeReader:
            made.append(True)
            return self

        try:
            opening = runtime.create_datagram_endpoint(protocol, sock=dup)
            try:
                # Runs at once up to waiting for ``connection_made``; that wait is not
                # needed: the transport comes with the call (see ``connection_made``).
                opening.send(None)
            finally:
                opening.close()
        except StopIteration:  # pragma: no cover - uvloop always waits for the call
            pass
        except BaseException:
            if dup.fileno() >= 0:
                dup.close()  # a no-op if uvloop took it (its reference holds it open)
            raise
        if not made:  # pragma: no cover - a uvloop that waits before making it
            dup.close()
            raise OSError("uvloop did not make its datagram transport at once")

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self._stopped:  # stopped before: its descriptor reads nothing; end it now
            transport.close()

    def error_received(self, exc: Exception) -> None:
        if not self._stopped and isinstance(exc, OSError):
            self._on_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self._stopped:
            self._stopped = True
            self._on_lost(self, exc)

    def stop(self) -> None:
        """Read nothing more (uvloop closes the duplicate within a loop turn)."""
        if self._stopped:
            return
        self._stopped = True
        transport = self.transport
        if transport is not None:
            transport.close()  # stops reading at once; the descriptor goes next turn
            return
        # No transport yet: uvloop will start reading after connection_made.  Point the
        # duplicate's descriptor at a socket that is never bound, so that read finds
        # nothing; uvloop closes it as its own.
        try:
            with socket.socket(self._dup.family, socket.SOCK_DGRAM) as idle:
                os.dup2(idle.fileno(), self._dup.fileno(), inheritable=False)
        except OSError:  # no descriptor to spare: what it reads meanwhile is dropped
            self.datagram_received = _drop  # uvloop looks it up per datagram


def _drop(data: bytes, addr: Any) -> None:
    """What a reader stopped too early to keep from reading does with a datagram."""
