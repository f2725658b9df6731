"""aioquic's ``QuicConnection`` with receive credit tied to what the application consumed.

Why: stock aioquic raises a stream's MAX_STREAM_DATA on its own whenever the peer has sent
more than half of it (doubling the window each time), whatever the application did with the
data.  A reader that stops reading therefore never slows the sender, and the window grows
without bound.  Here a stream's limit is instead ``consumed + window``, where ``consumed``
is the offset the stream's transport has handed to its protocol: a paused transport keeps
received bytes in its own buffer (at most ``window`` of them) and the peer gets no new credit
until the protocol calls ``resume_reading()``.

How: this overrides ``_write_stream_limits``, the private hook that aioquic 1.x calls for
every stream while it builds an application packet.  The frame it writes and the delivery
handler it registers (``_on_max_stream_data_delivery``, which re-sends a lost update) are
aioquic's own.  The connection-level MAX_DATA is left to aioquic (it grows as data arrives):
per-stream credit alone bounds memory.  A new aioquic release that renames the hook breaks
only this module.

Stream counts: a peer may open at most :data:`UNI_STREAM_BACKLOG` unidirectional streams
the application has not taken.  aioquic raises MAX_STREAMS_UNI by one whenever a peer's
stream finishes (its FIN arrived and its data was delivered), which for a uni stream means
at once, whatever the application did; so ``_write_connection_limits`` (the private hook
aioquic calls while it builds an application packet) caps the limit at ``taken() +
UNI_STREAM_BACKLOG``, where ``taken`` counts the streams the application took.  The
connection layer wakes a flush when it takes one, so the new credit goes out at once.

Stream announcement: a stream we open tells the peer nothing until its first frame, yet it
uses one of the peer's stream credits; a peer that batches MAX_STREAMS (aioquic raises it
only once we have used most of what it granted) then never grants more while our streams
sit unwritten, and a new open waits until idle.  Each stream we open is therefore
announced at once with a zero-length STREAM frame (``announce``), written from the
per-stream hook below, and written again if that packet is lost.

Also here: a server that wants client certificates asks for them through aioquic's
``tls.Context._request_client_certificate`` flag (aioquic verifies the signature but not the
chain; :mod:`._connection` verifies the chain against the configured CA afterwards).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import (
    MAX_STREAM_DATA_FRAME_CAPACITY,
    QuicConnection,
    QuicConnectionState,
)
from aioquic.quic.packet import QuicFrameType
from aioquic.quic.packet_builder import QuicDeliveryState, QuicPacketBuilder
from aioquic.quic.recovery import QuicPacketPacer, QuicPacketSpace
from aioquic.quic.stream import QuicStream

from .._transports.tls.names import HandshakeObserver
from ._facts import watch

__all__ = ["UNI_STREAM_BACKLOG", "CreditedConnection", "ReceiveCredit", "missing_internals"]

UNI_STREAM_BACKLOG = 16
"""Unidirectional streams a peer may have opened that the application has not taken."""

_ANNOUNCE_CAPACITY = 11  # frame type, stream ID (up to 8 bytes), 2-byte zero length

_INTERNALS = (
    "_state",
    "_local_max_streams_uni",
    "_write_connection_limits",
    "_write_stream_limits",
    "_on_max_stream_data_delivery",
    "_streams",
)


def missing_internals() -> list[str]:
    """The private aioquic names this module relies on that aioquic no longer has."""
    probe = QuicConnection(configuration=QuicConfiguration(is_client=True))
    missing = [name for name in _INTERNALS if not hasattr(probe, name)]
    limit = getattr(probe, "_local_max_streams_uni", None)
    if limit is not None and not all(hasattr(limit, a) for a in ("value", "sent", "used")):
        missing.append("_local_max_streams_uni.value/sent/used")
    return missing


TIMER_SLACK = 0.002
"""Loop timers fire up to ~1 ms late (libuv counts milliseconds): let the pacer burst that."""


class _CoarsePacer(QuicPacketPacer):
    """aioquic's pacer with a bucket of at least :data:`TIMER_SLACK` of sending time.

    aioquic's bucket holds at most 16 packets' worth of time; a loop whose timers wake a
    millisecond late (uvloop) then loses most of every wait and throughput collapses to a
    few MB/s.  A bucket as deep as the timer slack keeps the average rate the congestion
    controller asked for, in slightly larger bursts.
    """

    def update_rate(self, congestion_window: int, smoothed_rtt: float) -> None:
        super().update_rate(congestion_window, smoothed_rtt)
        if self.bucket_max < TIMER_SLACK:
            self.bucket_max = TIMER_SLACK


class ReceiveCredit(Protocol):
    """What a stream's transport tells the connection about its reader."""

    consumed: int
    """Stream offset up to which data was handed to the application."""

    reading_paused: bool


class CreditedConnection(QuicConnection):
    """A ``QuicConnection`` whose stream credit follows the application's reading."""

    def __init__(
        self,
        *,
        credits: dict[int, Any],
        window: int,
        request_client_certificate: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._loss._pacer = _CoarsePacer(max_datagram_size=self._max_datagram_size)
        self.credits = credits
        self.window = window
        self._want_client_cert = request_client_certificate
        self.hello_observer: HandshakeObserver | None = None
        self.uni_taken: Callable[[], int] = lambda: 0
        """How many of the peer's uni streams the application took (set by the core)."""
        self._announce: set[int] = set()
        limit = getattr(self, "_local_max_streams_uni", None)
        self._uni_natural = self._uni_value = UNI_STREAM_BACKLOG
        if limit is not None:
            limit.value = limit.sent = UNI_STREAM_BACKLOG

    def announce(self, stream_id: int) -> None:
        """Tell the peer of our new stream ``stream_id`` before any data is written."""
        self._announce.add(stream_id)

    @property
    def decrypted_any(self) -> bool:
        """Whether any packet from the peer decrypted (aioquic leaves FIRSTFLIGHT then)."""
        state = getattr(self, "_state", None)  # see missing_internals()
        return state is not QuicConnectionState.FIRSTFLIGHT

    def _initialize(self, peer_cid: bytes) -> None:
        super()._initialize(peer_cid)
        self.hello_observer = watch(self)  # for info: see _facts.py
        if self._want_client_cert:
            self.tls._request_client_certificate = True

    def _write_connection_limits(self, builder: QuicPacketBuilder, space: QuicPacketSpace) -> None:
        limit = self._local_max_streams_uni
        if limit.value > self._uni_value:  # aioquic freed slots: streams that finished
            self._uni_natural += limit.value - self._uni_value
        cap = min(self._uni_natural, self.uni_taken() + UNI_STREAM_BACKLOG)
        limit.value = self._uni_value = max(limit.sent, limit.used, cap)
        super()._write_connection_limits(builder, space)

    def _on_announce_delivery(self, delivery: QuicDeliveryState, stream_id: int) -> None:
        if delivery != QuicDeliveryState.ACKED and stream_id in self._streams:
            self._announce.add(stream_id)

    def _write_announcement(self, builder: QuicPacketBuilder, stream: QuicStream) -> None:
        stream_id = stream.stream_id
        assert stream_id is not None
        sender = stream.sender
        if (
            sender.highest_offset
            or not sender.buffer_is_empty
            or sender.reset_pending
            or sender.is_finished
        ):
            self._announce.discard(stream_id)  # a STREAM frame has announced it (or never will)
            return
        if stream.is_blocked:
            return  # past the peer's limit: announced once unblocked
        if builder.remaining_flight_space < _ANNOUNCE_CAPACITY:
            return  # this packet is full: the next one (built in the same flush) carries it
        buf = builder.start_frame(
            QuicFrameType.STREAM_BASE | 2,
            capacity=_ANNOUNCE_CAPACITY,
            handler=self._on_announce_delivery,
            handler_args=(stream_id,),
        )
        buf.push_uint_var(stream_id)
        buf.push_uint16(0x4000)  # length 0, as a 2-byte varint
        self._announce.discard(stream_id)

    def _write_stream_limits(
        self, builder: QuicPacketBuilder, space: QuicPacketSpace, stream: QuicStream
    ) -> None:
        if self._announce and stream.stream_id in self._announce:
            self._write_announcement(builder, stream)
        limit = stream.max_stream_data_local
        if not limit or stream.receiver.is_finished:
            return
        stream_id = stream.stream_id
        assert stream_id is not None
        credit: ReceiveCredit | None = self.credits.get(stream_id)
        if credit is not None and not credit.reading_paused:
            target = credit.consumed + self.window
            # Batch updates: announce once half a window has been consumed.
            if target - limit >= self.window >> 1:
                stream.max_stream_data_local = limit = target
        if stream.max_stream_data_local_sent != limit:
            buf = builder.start_frame(
                QuicFrameType.MAX_STREAM_DATA,
                capacity=MAX_STREAM_DATA_FRAME_CAPACITY,
                handler=self._on_max_stream_data_delivery,
                handler_args=(stream,),
            )
            buf.push_uint_var(stream_id)
            buf.push_uint_var(limit)
            stream.max_stream_data_local_sent = limit
