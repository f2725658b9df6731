"""The aioquic core: every use of aioquic (public and private) is in this module, and only here.

aioquic is the fallback core (qh3 is the default, see :mod:`._qh3`): where qh3 cannot be
imported, and for listeners that require client certificates (qh3 servers cannot ask for
them).  aioquic does packet protection and framing in Python, so it is several times
slower.  Its private names used here are listed in :data:`_INTERNALS` and checked by
:func:`missing_internals` (and a test that fails loudly); aioquic is pinned below its
next major version.  What they bridge:

- **Receive credit tied to what the reader consumed.**  Stock aioquic raises a stream's
  MAX_STREAM_DATA on its own whenever the peer has sent more than half of it.  Here a
  stream's limit is ``consumed + window``, where ``consumed`` is the offset its transport
  has handed to the protocol, by overriding ``_write_stream_limits`` (called for every
  stream while aioquic builds an application packet); the frame and its loss handler
  (``_on_max_stream_data_delivery``) are aioquic's own.  MAX_DATA is left to aioquic.
- **Uni stream backlog.**  aioquic raises MAX_STREAMS_UNI as soon as a peer's uni stream
  finishes; ``_write_connection_limits`` caps it at ``taken() + UNI_STREAM_BACKLOG``.
- **Stream announcement.**  A stream we open uses one of the peer's stream credits before
  its first frame; a peer that batches MAX_STREAMS then never grants more while our
  streams sit unwritten.  Each stream we open is announced at once with a zero-length
  STREAM frame, written from the same per-stream hook, and again if that packet is lost.
- **Backpressure.**  aioquic keeps every byte until it is acknowledged and never pushes
  back (aioquic#328): the link reads its send buffer bounds (``_buffer_start/_stop``).
- **Pacing.**  aioquic's pacer bucket is too shallow for loop timers that wake a
  millisecond late (uvloop): a deeper bucket keeps the average rate.
- **Client certificates**: ``tls.Context._request_client_certificate`` asks for them
  (aioquic verifies the signature, not the chain: :meth:`AioquicLink.client_certificate_error`
  verifies the chain), and the TLS facts ``info`` reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import aioquic
from aioquic import tls as atls
from aioquic.quic import events as aevents
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import (
    MAX_STREAM_DATA_FRAME_CAPACITY,
    QuicConnection,
    QuicConnectionState,
)
from aioquic.quic.packet import QuicErrorCode, QuicFrameType, QuicProtocolVersion
from aioquic.quic.packet_builder import QuicDeliveryState, QuicPacketBuilder
from aioquic.quic.recovery import QuicPacketPacer, QuicPacketSpace
from aioquic.quic.stream import QuicStream
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from ..tls.facts import TLSFacts
from ._facts import facts, watch
from ._link import UNI_STREAM_BACKLOG, Address, ReceiveCredit, event_table, major_minor
from ._options import QuicTLSOptions, fill_configuration

__all__ = [
    "NAME",
    "SUPPORTED",
    "UNI_STREAM_BACKLOG",
    "AioquicLink",
    "configuration",
    "missing_internals",
    "version",
]

NAME = "aioquic"
SUPPORTED = ((1, 2), (2, 0))
"""aioquic versions whose internals this module was written against: [low, high)."""


_ANNOUNCE_CAPACITY = 11  # frame type, stream ID (up to 8 bytes), 2-byte zero length
_DATAGRAM_OVERHEAD = 64

_INTERNALS = (
    "_state",
    "_local_max_streams_uni",
    "_write_connection_limits",
    "_write_stream_limits",
    "_on_max_stream_data_delivery",
    "_streams",
    "_close_event",
    "_close_pending",
    "_handshake_complete",
    "_remote_max_datagram_frame_size",
    "_remote_max_streams_bidi",
    "_remote_max_streams_uni",
    "_max_datagram_size",
    "_loss",
    "_initialize",
)

EV = event_table(aevents)
INTERNAL_ERROR = int(QuicErrorCode.INTERNAL_ERROR)
CONNECTION_REFUSED = int(QuicErrorCode.CONNECTION_REFUSED)


def version() -> tuple[int, ...]:
    return major_minor(aioquic.__version__)


def missing_internals() -> list[str]:
    """The private aioquic names this module relies on that the installed aioquic lacks."""
    missing: list[str] = []
    if not SUPPORTED[0] <= version() < SUPPORTED[1]:
        missing.append(f"aioquic {aioquic.__version__} outside {SUPPORTED}")
    probe = QuicConnection(configuration=QuicConfiguration(is_client=True))
    missing += [name for name in _INTERNALS if not hasattr(probe, name)]
    limit = getattr(probe, "_local_max_streams_uni", None)
    if limit is not None and not all(hasattr(limit, a) for a in ("value", "sent", "used")):
        missing.append("_local_max_streams_uni.value/sent/used")
    for name in ("_buffer_start", "_buffer_stop", "_reset_error_code"):
        sender = QuicStream(stream_id=0).sender
        if not hasattr(sender, name):
            missing.append(f"QuicStreamSender.{name}")
    if not hasattr(atls.Context, "handle_message"):
        missing.append("tls.Context.handle_message")
    return missing


def _load_chain(cert_pem: bytes, key_pem: bytes) -> tuple[Any, list[Any], Any]:
    chain = x509.load_pem_x509_certificates(cert_pem)
    try:
        key = load_pem_private_key(key_pem, password=None)
    except ValueError as exc:
        raise ValueError(f"key: cannot load the private key ({exc})") from None
    return chain[0], list(chain[1:]), key


def configuration(options: QuicTLSOptions, *, is_client: bool) -> QuicConfiguration:
    """aioquic's configuration for ``options``; raises ``ValueError`` naming a bad field."""
    config = QuicConfiguration(is_client=is_client)
    config.supported_versions = [QuicProtocolVersion.VERSION_1]  # what the listener checks
    fill_configuration(config, options, is_client=is_client, load_chain=_load_chain)
    return config


TIMER_SLACK = 0.002
"""Loop timers fire up to ~1 ms late (libuv counts milliseconds): let the pacer burst that."""


class _CoarsePacer(QuicPacketPacer):
    """aioquic's pacer with a bucket of at least :data:`TIMER_SLACK` of sending time."""

    def update_rate(self, congestion_window: int, smoothed_rtt: float) -> None:
        super().update_rate(congestion_window, smoothed_rtt)
        if self.bucket_max < TIMER_SLACK:
            self.bucket_max = TIMER_SLACK


class _CreditedConnection(QuicConnection):
    """A ``QuicConnection`` whose stream credit follows the application's reading."""

    def __init__(
        self,
        *,
        link: AioquicLink,
        credits: dict[int, Any],
        window: int,
        request_client_certificate: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._loss._pacer = _CoarsePacer(max_datagram_size=self._max_datagram_size)
        self.unisock_link = link
        self.credits = credits
        self.window = window
        self._want_client_cert = request_client_certificate
        self._announce: set[int] = set()
        limit = getattr(self, "_local_max_streams_uni", None)
        self._uni_natural = self._uni_value = UNI_STREAM_BACKLOG
        if limit is not None:
            limit.value = limit.sent = UNI_STREAM_BACKLOG

    def announce(self, stream_id: int) -> None:
        self._announce.add(stream_id)

    def _initialize(self, peer_cid: bytes) -> None:
        super()._initialize(peer_cid)
        link = self.unisock_link
        link.observer = watch(self.tls, is_client=link.is_client)
        if self._want_client_cert:
            self.tls._request_client_certificate = True

    def _write_connection_limits(self, builder: QuicPacketBuilder, space: QuicPacketSpace) -> None:
        limit = self._local_max_streams_uni
        if limit.value > self._uni_value:  # aioquic freed slots: streams that finished
            self._uni_natural += limit.value - self._uni_value
        cap = min(self._uni_natural, self.unisock_link.uni_taken() + UNI_STREAM_BACKLOG)
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


class AioquicLink:
    """One aioquic connection behind the :class:`._link.Link` seam."""

    EV = EV
    INTERNAL_ERROR = INTERNAL_ERROR
    CONNECTION_REFUSED = CONNECTION_REFUSED

    def __init__(
        self,
        configuration: QuicConfiguration,
        *,
        credits: dict[int, Any],
        window: int,
        original_destination_connection_id: bytes | None = None,
        retry_source_connection_id: bytes | None = None,
        session_ticket_fetcher: Callable[[bytes], Any] | None = None,
        session_ticket_handler: Callable[[Any], None] | None = None,
        request_client_certificate: bool = False,
    ) -> None:
        self.is_client = bool(configuration.is_client)
        self.by_peer = False
        self.finished: list[int] = []
        self.observer: Any = None
        self.uni_taken: Callable[[], int] = lambda: 0
        quic = _CreditedConnection(
            link=self,
            credits=credits,
            window=window,
            request_client_certificate=request_client_certificate,
            configuration=configuration,
            original_destination_connection_id=original_destination_connection_id,
            retry_source_connection_id=retry_source_connection_id,
            session_ticket_fetcher=session_ticket_fetcher,
            session_ticket_handler=session_ticket_handler,
        )
        self.quic = quic
        self.host_cid: bytes = quic.host_cid
        self.receive = quic.receive_datagram
        self.datagrams_to_send = quic.datagrams_to_send
        self.get_timer = quic.get_timer
        self.handle_timer = quic.handle_timer
        self.next_event = quic.next_event
        self._streams = quic._streams

    def refill(self) -> bool:
        return False  # credit is per stream, written at packet build time

    def receive_many(self, datagrams: list[bytes], addr: Address, now: float) -> None:
        receive = self.quic.receive_datagram
        for data in datagrams:
            receive(data, addr, now)

    def connect(self, addr: Address, now: float) -> None:
        self.quic.connect(addr, now=now)

    # -- streams ------------------------------------------------------------------------
    def has_stream_credit(self, bidirectional: bool, handshake_done: bool) -> bool:
        quic = self.quic
        if not quic._handshake_complete:
            return True  # aioquic queues streams until the peer's limits are known
        next_id = quic.get_next_available_stream_id(is_unidirectional=not bidirectional)
        limit = quic._remote_max_streams_bidi if bidirectional else quic._remote_max_streams_uni
        return bool(next_id // 4 < limit)

    def open_stream(self, bidirectional: bool) -> int:
        quic = self.quic
        stream_id = quic.get_next_available_stream_id(is_unidirectional=not bidirectional)
        quic.send_stream_data(stream_id, b"")  # creates aioquic's stream object
        quic.announce(stream_id)  # the peer counts it at once
        return stream_id

    def writer(self, stream_id: int) -> Callable[..., None]:
        return self._streams[stream_id].sender.write

    def unsent(self, stream_id: int) -> int:
        stream = self._streams.get(stream_id)
        if stream is None:
            return 0
        sender = stream.sender
        if sender.is_finished or sender._reset_error_code is not None:
            return 0
        return max(0, sender._buffer_stop - max(sender.highest_offset, sender._buffer_start))

    def held(self, stream_id: int) -> int:
        """Bytes aioquic keeps for the stream until the peer acknowledges them."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return 0
        sender = stream.sender
        if sender.is_finished or sender._reset_error_code is not None:
            return 0
        return int(sender._buffer_stop - sender._buffer_start)

    def send_done(self, stream_id: int) -> bool:
        stream = self._streams.get(stream_id)
        if stream is None:
            return True
        sender = stream.sender
        return bool(sender.is_finished or sender._reset_error_code is not None)

    def stream_ended(self, stream_id: int) -> None:
        pass

    def reset(self, stream_id: int, error_code: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.sender.is_finished:
            self.quic.reset_stream(stream_id, error_code)

    def stop(self, stream_id: int, error_code: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.receiver.is_finished:
            with contextlib.suppress(ValueError):  # aioquic already discarded the stream
                self.quic.stop_stream(stream_id, error_code)

    def stream_discarded(self, stream_id: int) -> bool:
        return stream_id not in self._streams

    # -- connection ---------------------------------------------------------------------
    def send_datagram(self, data: bytes) -> None:
        self.quic.send_datagram_frame(data)

    def max_datagram_size(self, handshake_done: bool) -> int | None:
        quic = self.quic
        remote = quic._remote_max_datagram_frame_size
        if remote is None:
            if quic._handshake_complete:
                return None
            return int(quic._max_datagram_size) - _DATAGRAM_OVERHEAD
        return int(min(remote, quic._max_datagram_size)) - _DATAGRAM_OVERHEAD

    def close(self, error_code: int, reason: str, frame_type: int | None = None) -> None:
        self.quic.close(error_code=error_code, frame_type=frame_type, reason_phrase=reason)

    def close_event(self) -> Any:
        event = self.quic._close_event
        if event is not None and self.quic._state == QuicConnectionState.DRAINING:
            self.by_peer = True
        return event

    def close_pending(self) -> bool:
        return bool(self.quic._close_pending)

    def decrypted_any(self) -> bool:
        """Whether any packet from the peer decrypted (aioquic leaves FIRSTFLIGHT then)."""
        return getattr(self.quic, "_state", None) is not QuicConnectionState.FIRSTFLIGHT

    def facts(self) -> TLSFacts:
        quic = self.quic
        ctx = quic.tls
        config = quic.configuration
        own = config.certificate
        if self.is_client and getattr(ctx, "_certificate_request", None) is None:
            own = None  # the server did not ask for it, so it was not sent
        peer = getattr(ctx, "_peer_certificate", None)
        observer, self.observer = self.observer, None
        return facts(
            is_client=self.is_client,
            suite=getattr(getattr(ctx, "key_schedule", None), "cipher_suite", None),
            certificate=_der(own),
            peer_certificate=_der(peer),
            servername=config.server_name if self.is_client else None,
            observer=observer,
        )

    def client_certificate_error(self, cadata: bytes) -> tuple[int, str] | None:
        ctx = self.quic.tls
        certificate = ctx._peer_certificate
        if certificate is None:
            return int(atls.AlertDescription.certificate_required), (
                "a client certificate is required"
            )
        try:
            atls.verify_certificate(
                certificate=certificate, chain=ctx._peer_certificate_chain, cadata=cadata
            )
        except atls.Alert as exc:
            return int(exc.description), str(exc)
        return None


def _der(cert: Any) -> bytes | None:
    try:
        return bytes(cert.public_bytes(Encoding.DER)) if cert is not None else None
    except Exception:  # pragma: no cover - not a cryptography certificate
        return None


link = AioquicLink
"""Make the :class:`._link.Link` of one connection (what :mod:`._engines` callers use)."""
