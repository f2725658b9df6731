"""One QUIC stream as an asyncio Transport, so a plain ``asyncio.Protocol`` can drive it.

Sending: ``write()`` appends to the QUIC core's send buffer and asks the connection for one
flush per loop pass.  The transport asks the core how much it holds for the stream
(``Link.held``: not yet sent on qh3, not yet acknowledged on aioquic, which never pushes
back itself) and calls the protocol's ``pause_writing()`` / ``resume_writing()`` around
the high and low water marks.

Receiving: data goes straight to ``data_received()`` and advances ``consumed``, the offset
the core's link grants credit from.  While reading is paused (or no protocol is attached yet)
data waits here, and no new credit is granted, so at most one window is ever buffered and a
slow reader slows the sender.

Ending: a peer FIN calls ``eof_received()`` (a falsy answer closes the transport, as asyncio
does); a peer RESET_STREAM or STOP_SENDING is fatal to the stream and reported to
``connection_lost()`` as ``NetworkError``; ``abort(code)`` sends RESET_STREAM and
STOP_SENDING for this stream only; ``close()`` sends FIN, stops reading, and reports
``connection_lost(None)`` once the peer has acknowledged everything written.

State: one state per half of the stream (``_send``, ``_recv``), moved only through the
tables of :mod:`._stream_states`; the transport is closing once ``_recv`` is ``CLOSED``
or later.  Moves happen a few times per stream, never per chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from ...errors import InvalidStateError, NetworkError
from ...events import report_exception
from . import _stream_states
from ._link import StreamWriter
from ._stream_states import Recv, RecvInput, Send, SendInput

if TYPE_CHECKING:
    from ._connection import QuicConnectionCore

__all__ = ["DEFAULT_HIGH_WATER", "Direction", "QuicStreamTransport"]

# The members as plain module constants: one global look-up on the per-chunk paths.
_OPEN = Send.OPEN
_NO_SEND = Send.NONE
_RESET_SENT = Send.RESET_SENT
_RECV = Recv.RECV
_FIN_WAITING = Recv.DATA_RECVD
_CLOSED = Recv.CLOSED
_LOST = Recv.LOST
_SEND_TABLE = _stream_states.SEND_TRANSITIONS
_RECV_TABLE = _stream_states.RECV_TRANSITIONS


def _no_write(data: Any, end_stream: bool = False) -> None:
    raise InvalidStateError("this QUIC stream is receive-only")


Direction = Literal["bidirectional", "send", "receive"]
DEFAULT_HIGH_WATER = 1 << 20


class QuicStreamTransport(asyncio.Transport):
    """The Transport facade of one QUIC stream; ``direction`` says which ways it carries data."""

    def __init__(self, core: QuicConnectionCore, stream_id: int, direction: Direction) -> None:
        super().__init__(
            {
                "peername": core.peer,
                "sockname": core.local,
                "stream_id": stream_id,
                "direction": direction,
                "quic_connection": core,
            }
        )
        self.stream_id = stream_id
        self.direction: Direction = direction
        self.bytes_sent = 0
        self.bytes_received = 0
        # Read by the connection's credit hook (see _flow.py).
        self.consumed = 0
        self.reading_paused = True  # until a protocol is attached
        self._core = core
        self._loop = core.loop
        link = core.link
        self._link = link
        self._write: StreamWriter = link.writer(stream_id) if direction != "receive" else _no_write
        self._held_fn = link.held
        self._protocol: asyncio.BaseProtocol | None = None
        self._paused_by_protocol = False
        self._inbox: deque[bytes] = deque()
        self._inbox_size = 0
        self._drain_scheduled = False
        self._send = Send.NONE if direction == "receive" else Send.OPEN
        self._recv = Recv.NONE if direction == "send" else Recv.RECV
        self._high = DEFAULT_HIGH_WATER
        self._low = DEFAULT_HIGH_WATER // 4
        self._write_paused = False

    # -- protocol ----------------------------------------------------------------------
    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[return-value]

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self.reading_paused = self._paused_by_protocol
        if self._inbox or self._recv is _FIN_WAITING:
            self._schedule_drain()

    def attach(self, protocol: asyncio.BaseProtocol) -> None:
        """Attach ``protocol`` and call its ``connection_made``, as a loop would."""
        self.set_protocol(protocol)
        try:
            protocol.connection_made(self)
        except Exception as exc:
            self._protocol_failed(exc, "connection_made")

    # -- writing -----------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._send is not _OPEN:
            sent = self._send
            if (sent is Send.DATA_SENT or sent is Send.DATA_RECVD) and self._recv < _CLOSED:
                raise RuntimeError("Cannot call write() after write_eof()")
            if sent is _NO_SEND:
                raise InvalidStateError("this QUIC stream is receive-only")
            return  # closed, aborted or reset: dropped, as asyncio does after close()
        n = len(data)
        if not n:
            return
        try:
            self._write(data)  # any bytes-like works
        except Exception:
            if self._core.is_closing:
                return  # the connection is ending: dropped, as asyncio does after close()
            raise
        self.bytes_sent += n
        core = self._core
        if not core.flush_pending:
            core.schedule_flush()
        if not self._write_paused and self._held_fn(self.stream_id) > self._high:
            self._pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        if self._send is not _OPEN:
            if self._send is _NO_SEND:
                raise InvalidStateError("this QUIC stream is receive-only")
            return
        self._send_move(SendInput.FIN)
        with contextlib.suppress(Exception):  # the connection may be ending
            self._write(b"", True)
        self._core.schedule_flush()

    def can_write_eof(self) -> bool:
        return self.direction != "receive"

    def get_write_buffer_size(self) -> int:
        """Bytes written but not yet sent in any packet (what a socket's ``bytes_sent``
        leaves out, as TCP's counts what reached the kernel)."""
        if self._send is _NO_SEND or self._send is _RESET_SENT:
            return 0
        return self._link.unsent(self.stream_id)

    def _held(self) -> int:
        """Bytes the QUIC core holds for this stream that count against the high mark."""
        if self._send is _NO_SEND or self._send is _RESET_SENT:
            return 0
        return self._link.held(self.stream_id)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high = high
        self._low = low
        size = self._held()
        if not self._write_paused and size > high:
            self._pause_writing()
        elif self._write_paused and size <= low:
            self.resume_writing_if_drained()

    def _pause_writing(self) -> None:
        self._write_paused = True
        self._core.write_paused.add(self)
        protocol = self._protocol
        if protocol is not None:
            try:
                protocol.pause_writing()
            except Exception as exc:
                self._protocol_failed(exc, "pause_writing")

    def resume_writing_if_drained(self) -> None:
        """Called by the connection after ACKs arrive and after each flush."""
        if self._recv is _LOST or self._held() > self._low:
            return
        self._write_paused = False
        self._core.write_paused.discard(self)
        protocol = self._protocol
        if protocol is not None:
            try:
                protocol.resume_writing()
            except Exception as exc:
                self._protocol_failed(exc, "resume_writing")

    # -- reading -----------------------------------------------------------------------
    def is_reading(self) -> bool:
        return not (self.reading_paused or self._recv >= _CLOSED)

    def pause_reading(self) -> None:
        if self.direction == "send" or self._recv >= _CLOSED:
            return
        self._paused_by_protocol = True
        self.reading_paused = True

    def resume_reading(self) -> None:
        if not self._paused_by_protocol:
            return
        self._paused_by_protocol = False
        self.reading_paused = self._protocol is None
        if not self.reading_paused and (self._inbox or self._recv is _FIN_WAITING):
            self._schedule_drain()
        # Re-open the window: the next flush carries MAX_STREAM_DATA.
        self._core.schedule_flush()

    def data_arrived(self, data: bytes, fin: bool) -> None:
        """Stream data from the connection, in order; the hot path of receiving."""
        if fin:
            self._recv_move(RecvInput.PEER_FIN)  # waits here until handed over
        n = len(data)
        self.bytes_received += n
        if self._recv is not _RECV and self._recv >= _CLOSED:  # one identity test, mostly
            self.consumed += n
            return
        if self.reading_paused or self._inbox:
            if n:
                self._inbox.append(data)
                self._inbox_size += n
            return
        if n:
            self.consumed += n
            try:
                self._protocol.data_received(data)  # type: ignore[union-attr]
            except Exception as exc:
                self._protocol_failed(exc, "data_received")
                return
        if fin:
            self._deliver_eof()

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Hand buffered data to the protocol after a resume_reading() or set_protocol()."""
        self._drain_scheduled = False
        inbox = self._inbox
        protocol = self._protocol
        while inbox and not self.reading_paused and self._recv < _CLOSED and protocol is not None:
            data = inbox.popleft()
            self._inbox_size -= len(data)
            self.consumed += len(data)
            try:
                protocol.data_received(data)  # type: ignore[attr-defined]
            except Exception as exc:
                self._protocol_failed(exc, "data_received")
                return
        if inbox or self.reading_paused or self._recv >= _CLOSED:
            return
        if self._recv is _FIN_WAITING:
            self._deliver_eof()
        if self._core.ended:
            # The connection ended cleanly while a paused reader had data waiting.
            self._connection_lost(None)
        else:
            self._core.schedule_flush()  # credit for what was just consumed

    def _deliver_eof(self) -> None:
        self._recv_move(RecvInput.EOF_READ)
        try:
            keep_open = self._protocol.eof_received()  # type: ignore[union-attr]
        except Exception as exc:
            self._protocol_failed(exc, "eof_received")
            return
        if self.direction == "receive" or not keep_open:
            self.close()

    @property
    def buffered_inbound(self) -> int:
        """Bytes received but not yet handed to the protocol (reading paused)."""
        return self._inbox_size

    # -- ending ------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self._recv >= _CLOSED

    def close(self) -> None:
        if self._recv >= _CLOSED:
            return
        core = self._core
        if self._send is _OPEN:
            self._send_move(SendInput.FIN)
            with contextlib.suppress(Exception):  # the connection may be ending
                self._write(b"", True)
        self._stop_receiving(0)
        core.schedule_flush()
        if self.direction == "receive" or self._sender_done():
            self._loop.call_soon(self._connection_lost, None)
        else:
            core.closing_streams.add(self)

    def abort(self, error_code: int = 0) -> None:
        """RESET_STREAM and STOP_SENDING with ``error_code``; sibling streams are untouched."""
        if self._recv is _LOST:
            return
        self._reset_sending(error_code)
        self._stop_receiving(error_code)
        self._core.schedule_flush()
        self._loop.call_soon(self._connection_lost, None)

    def sender_progress(self) -> None:
        """Called by the connection after ACKs arrive, while close() waits for them."""
        if self._send is _RESET_SENT:
            pass
        elif self._link.send_done(self.stream_id):
            self._send_move(SendInput.ALL_ACKED)
        else:
            return
        self._core.closing_streams.discard(self)
        self._connection_lost(None)

    def _sender_done(self) -> bool:
        return self._send is _RESET_SENT or self._link.send_done(self.stream_id)

    def _reset_sending(self, error_code: int) -> None:
        if self._send_move(SendInput.RESET):
            self._link.reset(self.stream_id, error_code)

    def _stop_receiving(self, error_code: int) -> None:
        """Stop reading: what waits is dropped, and the peer is asked to stop sending."""
        self.consumed += self._inbox_size  # discarded counts as consumed: credit may flow
        self._inbox.clear()
        self._inbox_size = 0
        self.reading_paused = False
        still_receiving = self._recv is _RECV
        self._recv_move(RecvInput.CLOSE)
        if still_receiving:
            self._link.stop(self.stream_id, error_code)

    def peer_reset(self, error_code: int) -> None:
        """The peer sent RESET_STREAM."""
        self._recv_move(RecvInput.PEER_RESET)
        if self._recv is _LOST:
            return
        if self._recv is _CLOSED:
            if self.direction == "receive":
                self._connection_lost(None)
            return  # our FIN still goes out; close() waits for it
        self._peer_killed(
            f"QUIC stream {self.stream_id} was reset by the peer (error code {error_code})"
        )

    def peer_stopped(self, error_code: int) -> None:
        """The peer sent STOP_SENDING (the QUIC core has already reset our sending side)."""
        self._send_move(SendInput.PEER_STOP)
        if self._recv is _LOST:
            return
        if self._recv is _CLOSED:
            self.sender_progress()
            return
        self._peer_killed(
            f"the QUIC peer stopped reading stream {self.stream_id} (error code {error_code})"
        )

    def _peer_killed(self, message: str) -> None:
        self._send_move(SendInput.ENDED)
        self._stop_receiving(0)
        self._core.schedule_flush()
        self._connection_lost(NetworkError(message, errno.ECONNRESET))

    def connection_ended(self, exc: Exception | None) -> None:
        """The whole QUIC connection ended; ``exc`` is None for a clean end."""
        if self._recv is _LOST:
            return
        self._send_move(SendInput.ENDED)
        recv, send = self._recv, self._send
        if exc is None and recv < _CLOSED:
            receiving_done = recv is Recv.NONE or recv is _FIN_WAITING or recv is Recv.DATA_READ
            sending_done = (
                send is _NO_SEND
                or self._link.send_done(self.stream_id)
                or (
                    (send is Send.DATA_SENT or send is Send.DATA_RECVD)
                    and self._link.unsent(self.stream_id) == 0
                )
            )
            if not (receiving_done and sending_done) and not self._core.closed_by_us:
                exc = NetworkError(
                    f"the QUIC connection closed before stream {self.stream_id} finished",
                    errno.ECONNABORTED,
                )
        if exc is None and (self._inbox or recv is _FIN_WAITING) and recv < _CLOSED:
            # Let a paused reader still read what arrived before the clean close: _drain()
            # reports the loss once it is read (the core says the connection ended).
            return
        self._connection_lost(exc)

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._recv is _LOST:
            return
        self._send_move(SendInput.ENDED)
        self._recv_move(RecvInput.LOST)
        self.consumed += self._inbox_size
        self._inbox.clear()
        self._inbox_size = 0
        core = self._core
        core.write_paused.discard(self)
        core.closing_streams.discard(self)
        core.stream_gone(self)
        protocol = self._protocol
        if protocol is not None:
            try:
                protocol.connection_lost(exc)
            except Exception as err:
                report_exception(err, "QUIC stream protocol's connection_lost() raised")

    def _protocol_failed(self, exc: Exception, where: str) -> None:
        """A protocol callback raised: abort this stream only, as asyncio would."""
        report_exception(exc, f"QUIC stream protocol's {where}() raised")
        self.abort(0x0101)

    # -- state -------------------------------------------------------------------------
    def _send_move(self, event: SendInput) -> bool:
        """Move the sending part as its table says; False when ``event`` changes nothing."""
        before = self._send
        after = _SEND_TABLE.get((before, event))
        if after is None:
            return False
        self._send = after
        if _stream_states.observer is not None:
            _stream_states.observer(self, before, event, after)
        return True

    def _recv_move(self, event: RecvInput) -> bool:
        """Move the receiving part as its table says; False when ``event`` changes nothing."""
        before = self._recv
        after = _RECV_TABLE.get((before, event))
        if after is None:
            return False
        self._recv = after
        if _stream_states.observer is not None:
            _stream_states.observer(self, before, event, after)
        return True

    @property
    def states(self) -> tuple[Send, Recv]:
        """The sending and receiving parts' states (for diagnosis and tests)."""
        return self._send, self._recv

    def __repr__(self) -> str:
        recv = self._recv
        state = "closed" if recv is _LOST else "closing" if recv >= _CLOSED else "open"
        return f"<QuicStreamTransport id={self.stream_id} {self.direction} {state}>"
