"""Joining one socket to stdin/stdout: what ``connect`` and ``listen`` do with a connection.

Two pipes run at once, stdin -> ``socket.writable`` and ``socket.readable`` -> stdout.  The
socket is opened with ``allow_half_open=True`` so that the peer's EOF does not stop what
stdin still has to send; the session ends when both pipes are done.  On a terminal the
peer's EOF ends it at once (nobody should have to press Ctrl-D to leave).  UDP has no EOF:
after stdin's end, the session waits for ``wait`` seconds without a datagram, and an ICMP
error the OS reports meanwhile (a closed port: "connection refused") fails it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from .. import AbortController, Deferred, ErrorEvent, Socket
from .stdio import StdoutSink, stdin_stream, stdout_stream
from .tasks import first, sleep, spawn

__all__ = ["bridge"]

UDP_READ_SIZE = 8192
"""One stdin read is one datagram; 8 KiB, as socat does, stays far below UDP's limit."""


async def bridge(
    sock: Socket, *, datagram: bool, half_close: bool = True, wait: float = 1.0
) -> None:
    """Copy stdin to ``sock`` and ``sock`` to stdout until both directions are done.

    Both pipes act when called (no task each): ``out`` and ``into`` are their results,
    which asyncio and trio can both wait on."""
    stop = AbortController()
    sink = StdoutSink()
    source = stdin_stream(UDP_READ_SIZE if datagram else 64 * 1024)
    out: Deferred[Any] = sock.readable.pipe_to(stdout_stream(sink))
    into: Deferred[Any] = source.pipe_to(
        sock.writable,
        prevent_close=datagram or not half_close,
        prevent_abort=True,
        signal=stop.signal,
    )
    interactive = sys.stdin.isatty()
    # UDP: an ICMP error the OS reports (a closed port: "connection refused") comes as an
    # "error" event; it ends the session with that error, as it does netcat's.
    icmp: Deferred[None] = Deferred()

    def on_error(event: ErrorEvent) -> None:
        icmp.reject(event.error)  # a no-op once settled

    if datagram:
        sock.add_event_listener("error", on_error)
    try:
        while not (out.done() and into.done()):
            await first(*(r for r in (out, into, icmp) if not r.done()))
            for result in (out, into, icmp):
                if result.is_rejected():
                    result.result()  # a failed direction (or an ICMP error) fails the session
            if out.done() and not into.done() and (interactive or not half_close):
                break
            if into.done() and not out.done() and datagram:
                # Replies come until ``wait`` seconds of silence (or an ICMP error).
                quiet = spawn(_quiet(sink, wait))
                try:
                    await first(out, icmp, quiet.result)
                finally:
                    quiet.cancel()
                for result in (out, icmp):
                    if result.is_rejected():
                        result.result()
                break
    finally:
        if datagram:
            sock.remove_event_listener("error", on_error)
        stop.abort()  # ends the stdin pipe; ``out`` ends when the socket closes


async def _quiet(sink: StdoutSink, wait: float) -> None:
    """Return once no datagram has arrived for ``wait`` seconds."""
    start = time.monotonic()
    while True:
        left = max(sink.last_write, start) + wait - time.monotonic()
        if left <= 0:
            return
        await sleep(left)
