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

Also here: a server that wants client certificates asks for them through aioquic's
``tls.Context._request_client_certificate`` flag (aioquic verifies the signature but not the
chain; :mod:`._connection` verifies the chain against the configured CA afterwards).
"""

from __future__ import annotations

from typing import Any, Protocol

from aioquic.quic.connection import (
    MAX_STREAM_DATA_FRAME_CAPACITY,
    QuicConnection,
    QuicConnectionState,
)
from aioquic.quic.packet import QuicFrameType
from aioquic.quic.packet_builder import QuicPacketBuilder
from aioquic.quic.recovery import QuicPacketPacer, QuicPacketSpace
from aioquic.quic.stream import QuicStream

from .._tls_names import HandshakeObserver
from ._facts import watch

__all__ = ["CreditedConnection", "ReceiveCredit"]

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

    def _write_stream_limits(
        self, builder: QuicPacketBuilder, space: QuicPacketSpace, stream: QuicStream
    ) -> None:
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
