"""A connected stream socket as a ``StreamTransport`` on trio (what asyncio's loops give).

Why our own: trio has sockets, not transports, and the socket above the seam expects
asyncio's shape (``_transports/base.py``).  The behaviour follows asyncio's selector
transport, so a socket cannot tell the two apart:

* writing sends at once; only what the kernel does not take is queued, and a task waits
  for writability until the queue is empty.  Above the high-water mark the receiver's
  ``pause_writing`` is called, and ``resume_writing`` once the queue is down to the low one;
* one task per connection reads: it waits for readability, hands each chunk to the
  receiver (``data_received``, or ``get_buffer``/``buffer_updated`` for a buffered one)
  and parks while reading is paused.  After a small read (under 16 KiB) it waits before
  reading again (a ping-pong raises no ``BlockingIOError``), after a larger one it reads
  again at once (a bulk stream re-arms no epoll registration per read);
* ``close`` sends what is queued, then closes; ``abort`` closes at once; either way the
  receiver's ``connection_lost`` runs on the next pass and the fd is closed right after.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from .trio import TrioRuntime, TrioTask

__all__ = ["TrioStreamTransport"]

READ_SIZE = 256 * 1024
_FLOWING = 16 * 1024
_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable
_checkpoint = trio.lowlevel.checkpoint


class TrioStreamTransport:
    """A TCP (or any stream) socket as an asyncio-shaped transport, for trio."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_closing",
        "_data_received",
        "_eof_requested",
        "_extra",
        "_high",
        "_lost_scheduled",
        "_low",
        "_protocol",
        "_protocol_paused",
        "_read_parked",
        "_read_paused",
        "_reader",
        "_runtime",
        "_sock",
        "_writer",
    )

    def __init__(self, runtime: TrioRuntime, sock: socket.socket, protocol: Any) -> None:
        self._runtime = runtime
        self._sock = sock
        sock.setblocking(False)
        self._extra: dict[str, Any] = {"socket": sock}
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        try:
            self._extra["peername"] = sock.getpeername()
        except OSError:
            self._extra["peername"] = None
        self._buffer = bytearray()
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._protocol_paused = False
        self._closing = False
        self._lost_scheduled = False
        self._eof_requested = False
        self._read_paused = False
        self._read_parked: Any = None
        self._writer: TrioTask | None = None
        # Set before connection_made: a protocol may close or abort the transport there.
        self._reader: TrioTask | None = None
        self._set_protocol(protocol)
        protocol.connection_made(self)
        if not self._closing:
            self._reader = runtime.create_task(self._read_loop())

    # -- the seam: control ------------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def set_protocol(self, protocol: Any) -> None:
        self._set_protocol(protocol)

    def _set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        self._data_received = None if self._buffered else protocol.data_received

    def get_protocol(self) -> Any:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._read_paused and not self._closing

    def pause_reading(self) -> None:
        if not self._closing:
            self._read_paused = True

    def resume_reading(self) -> None:
        if not self._read_paused or self._closing:
            return
        self._read_paused = False
        parked = self._read_parked
        if parked is not None:
            self._read_parked = None
            trio.lowlevel.reschedule(parked)

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    # -- writing ------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_requested:
            raise RuntimeError("Cannot call write() after write_eof()")
        if type(data) is not bytes:
            data = memoryview(data).cast("B")
        if not data or self._closing:
            return
        buffer = self._buffer
        if not buffer:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fatal(exc)
                return
            if sent == len(data):
                return
            buffer += data[sent:]
            self._writer = self._runtime.create_task(self._flush())
        else:
            buffer += data
        self._maybe_pause_protocol()

    async def _flush(self) -> None:
        """Send the queue as the kernel takes it; then the pending FIN or close."""
        sock = self._sock
        buffer = self._buffer
        try:
            while buffer:
                await _wait_writable(sock)
                try:
                    sent = sock.send(buffer)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    self._fatal(exc)
                    return
                del buffer[:sent]
                self._maybe_resume_protocol()
        finally:
            self._writer = None
        if self._closing:
            self._schedule_lost(None)
        elif self._eof_requested:
            self._shutdown()

    def _maybe_pause_protocol(self) -> None:
        if len(self._buffer) > self._high and not self._protocol_paused:
            self._protocol_paused = True
            try:
                self._protocol.pause_writing()
            except Exception as exc:
                self._report(exc, "protocol.pause_writing() failed")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._buffer) <= self._low:
            self._protocol_paused = False
            try:
                self._protocol.resume_writing()
            except Exception as exc:
                self._report(exc, "protocol.resume_writing() failed")

    def write_eof(self) -> None:
        if self._closing or self._eof_requested:
            return
        self._eof_requested = True
        if not self._buffer:
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._fatal(exc)

    # -- reading ------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        sock = self._sock
        wait_first = False
        while not self._closing:
            if self._read_paused:
                await self._park()
                continue
            if wait_first:
                try:
                    await _wait_readable(sock)
                except trio.ClosedResourceError:  # the close's notify_closing: the end
                    return
                if self._closing or self._read_paused:
                    continue
            try:
                if self._buffered:
                    protocol = self._protocol
                    buf = protocol.get_buffer(-1)
                    size = len(buf)
                    nbytes = sock.recv_into(buf)
                    if nbytes:
                        protocol.buffer_updated(nbytes)
                else:
                    size = READ_SIZE
                    data = sock.recv(READ_SIZE)
                    nbytes = len(data)
                    if nbytes:
                        self._data_received(data)  # type: ignore[misc]
            except (BlockingIOError, InterruptedError):
                wait_first = True
                continue
            except OSError as exc:
                self._fatal(exc)
                return
            except Exception as exc:
                self._report(exc, "the protocol failed on received data")
                self._fatal(exc)
                return
            if not nbytes:
                self._eof_received()
                return
            # A read that filled the buffer, or brought a flowing stream's worth (16 KiB or
            # more), reads again at once; a small one (a message) waits for readability
            # first.  (Waiting after every short read cost an epoll_ctl re-arm and a
            # scheduler pass per read on a bulk stream: 8,934 epoll_ctl per 16,237 reads.)
            wait_first = nbytes < _FLOWING and nbytes < size
            if not wait_first:
                await _checkpoint()  # a flood must not starve the other tasks

    async def _park(self) -> None:
        self._read_parked = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._read_parked = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _eof_received(self) -> None:
        try:
            keep_open = self._protocol.eof_received()
        except Exception as exc:
            self._report(exc, "protocol.eof_received() failed")
            self._fatal(exc)
            return
        if not keep_open:
            self.close()

    # -- ending -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self._buffer:
            self._schedule_lost(None)

    def abort(self) -> None:
        self._force_close(None)

    def _fatal(self, exc: BaseException) -> None:
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._lost_scheduled:
            return
        self._closing = True
        self._buffer.clear()
        self._stop_reading()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
        self._schedule_lost(exc)

    def _stop_reading(self) -> None:
        if self._writer is not None:
            reader, self._reader = self._reader, None
            if reader is not None:
                reader.cancel()  # a read blocked on the fd is woken at once
        # With no writer, nothing is queued and connection_lost is on its way: its
        # notify_closing wakes a read blocked on the fd (the reader returns), with no
        # cancel scope.  Anywhere else, the reader sees ``_closing`` and returns.
        parked = self._read_parked
        if parked is not None:
            self._read_parked = None
            trio.lowlevel.reschedule(parked)

    def _schedule_lost(self, exc: BaseException | None) -> None:
        if not self._lost_scheduled:
            self._lost_scheduled = True
            self._runtime.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            sock = self._sock
            reader, self._reader = self._reader, None
            if sock.fileno() >= 0:
                trio.lowlevel.notify_closing(sock)  # wakes our reader too, if it waits
                sock.close()
            elif reader is not None:  # closed behind our back: nothing to wake it
                reader.cancel()

    def _report(self, exc: BaseException, message: str) -> None:
        self._runtime.call_exception_handler(
            {"message": f"{message}: {exc!r}", "exception": exc, "transport": self}
        )

    def __repr__(self) -> str:
        state = "closing" if self._closing else "open"
        return f"<TrioStreamTransport {state} fd={self._sock.fileno()}>"
