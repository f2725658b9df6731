"""The seam between sockets and transports, owned by unisock.

A socket talks to a ``StreamTransport`` (bytes out, flow control, end) and is a
``StreamReceiver`` for it (bytes in through a buffer it lends, end, loss, write
pressure).  The shapes are asyncio's ``Transport`` and ``BufferedProtocol`` on purpose:
the loop's own TCP transports (stock asyncio and uvloop) fit as they are, with no
wrapper and no cost per chunk, while our TLS layer and QUIC streams implement the same
few methods.  A runtime without asyncio's transports (trio) provides its own
``StreamTransport`` over its sockets; nothing above this module changes.

A UDP socket talks to a ``DatagramLink`` instead: one ``send`` per datagram, counters for
``stats``.  Only the methods listed here may be used across the seam; each transport is
checked against them by mypy (``tests/test_typing.py``).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "BufferedStreamReceiver",
    "DatagramLink",
    "StreamReceiver",
    "StreamTransport",
    "Transport",
]


class Transport(Protocol):
    """What a socket controls on any transport: ending, flow control, addresses."""

    def can_write_eof(self) -> bool: ...

    def write_eof(self) -> None:
        """Half-close: no more bytes from us, after the queued ones."""

    def close(self) -> None:
        """Send what is queued, then end (FIN, or close_notify and FIN)."""

    def abort(self) -> None:
        """End at once; queued bytes are dropped (RST where the transport has one)."""

    def is_closing(self) -> bool: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Above ``high`` queued bytes the receiver's ``pause_writing`` is called."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"peername"``, ``"sockname"``, ``"socket"`` (``None`` where not one's own)."""


class StreamTransport(Transport, Protocol):
    """A connected byte stream, as a socket sees it."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue bytes to send; never blocks (pressure is reported to the receiver)."""

    def is_reading(self) -> bool: ...

    def get_write_buffer_limits(self) -> tuple[int, int]: ...

    def set_protocol(self, protocol: Any) -> None:
        """Deliver to another receiver from now on (a layer such as TLS taking over)."""


class StreamReceiver(Protocol):
    """What a stream transport delivers to: one socket (asyncio's ``Protocol`` shape)."""

    def connection_made(self, transport: Any) -> None: ...

    def data_received(self, data: bytes) -> None:
        """The next bytes, as a new ``bytes`` object."""

    def eof_received(self) -> bool | None:
        """The peer's end of stream; returning true keeps our direction open."""

    def connection_lost(self, exc: BaseException | None) -> None: ...

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...


class BufferedStreamReceiver(Protocol):
    """A receiver that lends its own buffer (asyncio's ``BufferedProtocol`` shape): the
    loop's TCP transports read straight into it (zero-copy BYOB reads; the TLS layer's
    ciphertext buffer)."""

    def connection_made(self, transport: Any) -> None: ...

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the next bytes go (a waiting BYOB read's buffer, when there is one)."""

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the last buffer lent."""

    def eof_received(self) -> bool | None: ...

    def connection_lost(self, exc: BaseException | None) -> None: ...

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...


class DatagramLink(Transport, Protocol):
    """One UDP path (a connected socket, or one peer of a listener's socket): the stream
    surface a socket uses while closing, plus one ``send`` per datagram and counters."""

    sent: int
    received: int

    def send(self, data: Any, addr: Any = None) -> None:
        """Send one datagram now (to ``addr`` on a bound socket); raises what the OS says."""
