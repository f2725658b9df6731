"""Joining one socket to stdin/stdout: what ``connect`` and ``listen`` do with a connection.

Two pipes run at once, stdin -> ``socket.writable`` and ``socket.readable`` -> stdout.  The
socket is opened with ``allow_half_open=True`` so that the peer's EOF does not stop what
stdin still has to send; the session ends when both pipes are done.  On a terminal the
peer's EOF ends it at once (nobody should have to press Ctrl-D to leave).  UDP has no EOF:
after stdin's end, the session waits for ``wait`` seconds without a datagram, and an ICMP
error the OS reports meanwhile (a closed port: "connection refused") fails it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from .. import AbortController, ErrorEvent, Socket
from .stdio import StdoutSink, stdin_stream, stdout_stream

__all__ = ["bridge"]

UDP_READ_SIZE = 8192
"""One stdin read is one datagram; 8 KiB, as socat does, stays far below UDP's limit."""


async def bridge(
    sock: Socket, *, datagram: bool, half_close: bool = True, wait: float = 1.0
) -> None:
    """Copy stdin to ``sock`` and ``sock`` to stdout until both directions are done."""
    stop = AbortController()
    sink = StdoutSink()
    source = stdin_stream(UDP_READ_SIZE if datagram else 64 * 1024)
    out = asyncio.ensure_future(_wait(sock.readable.pipe_to(stdout_stream(sink))))
    into = asyncio.ensure_future(
        _wait(
            source.pipe_to(
                sock.writable,
                prevent_close=datagram or not half_close,
                prevent_abort=True,
                signal=stop.signal,
            )
        )
    )
    interactive = sys.stdin.isatty()
    # UDP: an ICMP error the OS reports (a closed port: "connection refused") comes as an
    # "error" event; it ends the session with that error, as it does netcat's.
    icmp: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_error(event: ErrorEvent) -> None:
        if not icmp.done():
            icmp.set_exception(event.error)

    if datagram:
        sock.add_event_listener("error", on_error)
    try:
        pending: set[asyncio.Future[None]] = {out, into, icmp}
        while out in pending or into in pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failed direction (or an ICMP error) fails the session
            if out in done and into in pending and (interactive or not half_close):
                break
            if into in done and out in pending and datagram:
                # Replies come until ``wait`` seconds of silence (or an ICMP error).
                quiet = asyncio.ensure_future(_quiet(sink, wait))
                try:
                    await asyncio.wait({out, icmp, quiet}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    quiet.cancel()
                for task in (out, icmp):
                    if task.done():
                        task.result()
                break
    finally:
        if datagram:
            sock.remove_event_listener("error", on_error)
        stop.abort()
        if not icmp.done():
            icmp.cancel()
        elif not icmp.cancelled():
            icmp.exception()  # retrieved, even when another error ended the session first
        for task in (out, into):
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _wait(awaitable: object) -> None:
    await awaitable  # type: ignore[misc]


async def _quiet(sink: StdoutSink, wait: float) -> None:
    """Return once no datagram has arrived for ``wait`` seconds."""
    start = time.monotonic()
    while True:
        left = max(sink.last_write, start) + wait - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(left)
