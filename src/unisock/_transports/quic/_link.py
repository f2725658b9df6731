"""The seam between the connection core and a QUIC library: one ``Link`` per connection.

Why a seam: unisock's QUIC runs on qh3 (a Rust core, the default) or on aioquic (pure
Python: the fallback, and the core of listeners that require client certificates, which
qh3 cannot ask for).  Everything library-specific, every private name included, lives in
one module per library (:mod:`._qh3`, :mod:`._aioquic`); the core, the stream transports,
the listener and the client see only this protocol.  Both libraries' event classes have
the same names and fields, so events cross the seam as the library made them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Protocol

from ..tls.facts import TLSFacts

__all__ = [
    "EVENT_NAMES",
    "UNI_STREAM_BACKLOG",
    "Address",
    "EventKinds",
    "Link",
    "ReceiveCredit",
    "StreamWriter",
    "event_table",
    "major_minor",
]

UNI_STREAM_BACKLOG = 16
"""Unidirectional streams a peer may have opened that the application has not taken."""

Address = tuple[Any, ...]

EVENT_NAMES = (
    "StreamDataReceived",
    "DatagramFrameReceived",
    "StreamReset",
    "StopSendingReceived",
    "ProtocolNegotiated",
    "HandshakeCompleted",
    "ConnectionTerminated",
    "ConnectionIdIssued",
    "ConnectionIdRetired",
)
"""The QUIC events the connection core tells apart; both cores name them alike."""


def event_table(events: Any) -> SimpleNamespace:
    """A core's event classes under ``EVENT_NAMES`` (``EV`` in each core's fence)."""
    return SimpleNamespace(**{name: getattr(events, name) for name in EVENT_NAMES})


def major_minor(version: str) -> tuple[int, ...]:
    """``"1.2.3"`` -> ``(1, 2)``: what a fence's ``SUPPORTED`` range is checked against."""
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())

EventKinds = SimpleNamespace
"""The library's event classes, by their shared names (``StreamDataReceived``, ...)."""

StreamWriter = Callable[..., None]


class ReceiveCredit(Protocol):
    """What a stream's transport tells the link about its reader."""

    consumed: int
    """Stream offset up to which data was handed to the application."""

    reading_paused: bool


class Link(Protocol):
    """One QUIC connection of a library, as the connection core drives it."""

    EV: EventKinds
    INTERNAL_ERROR: int
    CONNECTION_REFUSED: int
    is_client: bool
    host_cid: bytes
    by_peer: bool
    """Whether the peer closed the connection (its CONNECTION_CLOSE arrived)."""
    uni_taken: Callable[[], int]
    """How many of the peer's uni streams the application took (set by the core)."""
    finished: list[int]
    """Streams the library reported done since the core last looked (qh3 only)."""

    # -- packets and time ---------------------------------------------------------------
    def connect(self, addr: Address, now: float) -> None: ...
    def receive(self, data: bytes, addr: Address, now: float) -> None: ...
    def receive_many(self, datagrams: list[bytes], addr: Address, now: float) -> None: ...
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...
    def next_event(self) -> Any: ...
    def refill(self) -> bool:
        """Deliver events held back for flow control if the readers caught up."""
        ...

    # -- streams ------------------------------------------------------------------------
    def has_stream_credit(self, bidirectional: bool, handshake_done: bool) -> bool: ...
    def open_stream(self, bidirectional: bool) -> int: ...
    def writer(self, stream_id: int) -> StreamWriter:
        """``write(data, end_stream=False)`` for one stream."""
        ...

    def unsent(self, stream_id: int) -> int:
        """Bytes written to the stream that have not left in any packet yet."""
        ...

    def held(self, stream_id: int) -> int:
        """Bytes the library holds for the stream that count against its high-water mark."""
        ...

    def send_done(self, stream_id: int) -> bool:
        """Whether the peer has everything written, FIN included (or the stream was reset)."""
        ...

    def reset(self, stream_id: int, error_code: int) -> None: ...
    def stop(self, stream_id: int, error_code: int) -> None: ...
    def stream_ended(self, stream_id: int) -> None:
        """The library finished ``stream_id`` both ways (one of ``finished``)."""
        ...

    def stream_discarded(self, stream_id: int) -> bool:
        """Whether the library has forgotten the stream (no event can name it again)."""
        ...

    # -- connection ---------------------------------------------------------------------
    def send_datagram(self, data: bytes) -> None: ...
    def max_datagram_size(self, handshake_done: bool) -> int | None: ...
    def close(self, error_code: int, reason: str, frame_type: int | None = None) -> None: ...
    def close_event(self) -> Any:
        """The library's ``ConnectionTerminated`` once closing started, else None."""
        ...

    def close_pending(self) -> bool:
        """Whether our CONNECTION_CLOSE has yet to leave in a packet."""
        ...

    def decrypted_any(self) -> bool: ...
    def facts(self) -> TLSFacts:
        """The ``info`` fields of the completed handshake (see :mod:`._facts`)."""
        ...

    def client_certificate_error(self, cadata: bytes) -> tuple[int, str] | None:
        """``(alert, reason)`` if the client's certificate does not verify, else None."""
        ...
