"""The qh3 core: every use of qh3 (public and private) is in this module, and only here.

qh3 (2.x) is aioquic's API over a Rust transport core: packet protection, framing, loss
recovery and flow control run natively, which is why unisock's QUIC runs on it.  Public
API covers almost everything the connection core needs.  What it lacks, and how each gap
is bridged (each a private access, listed in :data:`_INTERNALS`, checked against the
installed version by :func:`missing_internals` and by a test that fails loudly):

- **Receive credit tied to what the reader consumed.**  The native core extends
  MAX_STREAM_DATA and MAX_DATA as the facade pops each stream event from it
  (``_core.next_event()``), whatever the application did with the data.  The link wraps
  the native core (``_create_core`` hook) so that popping stops while a stream's reader
  is a full window behind, or while :data:`UNI_STREAM_BACKLOG` peer uni streams wait
  untaken: the native core then holds at most ``max_data`` more, and grants nothing
  until the reader catches up (``refill``).  Unlike per-stream credit this holds back
  the whole connection while one reader lags.  Upstream hook to ask for: manual receive
  credit (``consume(stream_id, n)``, no automatic extension).
- **A stream's end**: ``stream_finished`` native events (the peer has all we sent, and we
  all it sent) are seen by the same wrapper; the facade keeps them to itself.
- **Sending**: ``datagrams_to_send`` polls ``_core.poll_transmit`` itself (see there).
- **Closing state**: ``_close_event`` (set as soon as either side starts closing; the
  public event waits out the draining period) and the peer's datagram limit
  (``_remote_max_datagram_frame_size``).
- **The hellos, for ``info``**: the ``_create_tls`` hook wraps the new TLS context
  before the ClientHello is written; ``tls._certificate_request`` says whether the
  server asked for our certificate.

qh3 servers cannot ask for client certificates, so listeners that require them run on
aioquic (:mod:`._aioquic`).  qh3 is pinned below its next major version.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable
from typing import Any

import qh3
from qh3 import tls as qtls
from qh3.quic import events as qevents
from qh3.quic.configuration import QuicConfiguration
from qh3.quic.connection import QuicConnection
from qh3.quic.packet import QuicErrorCode

from ..tls.facts import TLSFacts
from ._facts import facts, watch
from ._link import UNI_STREAM_BACKLOG, Address, event_table, major_minor
from ._options import QuicTLSOptions, fill_configuration

__all__ = [
    "NAME",
    "SUPPORTED",
    "UNI_STREAM_BACKLOG",
    "Qh3Link",
    "configuration",
    "missing_internals",
    "version",
]

NAME = "qh3"
SUPPORTED = ((2, 1), (3, 0))
"""qh3 versions whose internals this module was written against: [low, high)."""


_INTERNALS = (
    "_create_core",
    "_create_tls",
    "_drain_core",
    "_close_event",
    "_remote_max_datagram_frame_size",
)
"""Private names of qh3's ``QuicConnection``; the native event tuples the gate reads
(``("stream_data", id, data, fin)``, ``("stream_finished", id)``, ``("peer_closed", ...)``)
are checked by a live test (tests/adversarial/test_quic_internals.py)."""
_CLOSED_STATES = frozenset({"closing", "draining", "terminated"})
_DATAGRAM_OVERHEAD = 64

EV = event_table(qevents)
INTERNAL_ERROR = int(QuicErrorCode.INTERNAL_ERROR)
CONNECTION_REFUSED = int(QuicErrorCode.CONNECTION_REFUSED)


def version() -> tuple[int, ...]:
    return major_minor(qh3.__version__)


def missing_internals() -> list[str]:
    """The private qh3 names this module relies on that the installed qh3 lacks."""
    missing: list[str] = []
    if not SUPPORTED[0] <= version() < SUPPORTED[1]:
        missing.append(f"qh3 {qh3.__version__} outside {SUPPORTED}")
    probe = QuicConnection(configuration=QuicConfiguration(is_client=True))
    for name in _INTERNALS:
        if not hasattr(probe, name):
            missing.append(name)
    if not hasattr(qtls.Context, "handle_message"):
        missing.append("tls.Context.handle_message")
    from qh3 import _hazmat  # the native core the gate stands in for

    native = getattr(_hazmat, "QuicConnectionCore", None)
    for name in ("next_event", "poll_transmit", "state"):
        if not hasattr(native, name):
            missing.append(f"_hazmat.QuicConnectionCore.{name}")
    return missing


class _QuietNativeClose(logging.Filter):
    """qh3 logs a WARNING for every CONNECTION_CLOSE it receives; unisock reports the
    close itself (``closed`` rejects), so the line is noise on stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Native peer close", "Native protocol error"))


logging.getLogger("quic").addFilter(_QuietNativeClose())


def _load_chain(cert_pem: bytes, key_pem: bytes) -> tuple[Any, list[Any], Any]:
    chain = qtls.load_pem_x509_certificates(cert_pem)
    if not chain:
        raise ValueError("cert: no certificate in the PEM data")
    try:
        key = qtls.load_pem_private_key(key_pem, password=None)
    except Exception as exc:
        raise ValueError(f"key: cannot load the private key ({exc})") from None
    return chain[0], list(chain[1:]), key


def configuration(options: QuicTLSOptions, *, is_client: bool) -> QuicConfiguration:
    """qh3's configuration for ``options``; raises ``ValueError`` naming a bad field."""
    if options.ca is not None and not is_client:
        raise ValueError("ca: qh3 listeners cannot ask for client certificates")
    config = QuicConfiguration(is_client=is_client)
    fill_configuration(config, options, is_client=is_client, load_chain=_load_chain)
    if config.cafile is not None or config.capath is not None:
        # qh3 opens every entry of capath, directories included: hand it the PEM instead.
        config.cadata = _trust_pem(config.cafile, config.capath)
        config.cafile = config.capath = None
    return config


@functools.lru_cache(maxsize=8)
def _trust_pem(cafile: str | None, capath: str | None) -> bytes:
    """The certificates of a trust store location as one PEM bundle (files only)."""
    parts: list[bytes] = []
    paths = [cafile] if cafile else []
    if capath:
        with contextlib.suppress(OSError):
            paths += sorted(e.path for e in os.scandir(capath) if e.is_file())
    for path in paths:
        with contextlib.suppress(OSError), open(path, "rb") as f:
            data = f.read()
            if b"-----BEGIN CERTIFICATE-----" in data:
                parts.append(data if data.endswith(b"\n") else data + b"\n")
    return b"".join(parts)


class _NativeGate:
    """Stands in for qh3's native connection core: forwards everything, and holds back
    events (so credit) while the link says so.  See the module docstring."""

    def __init__(self, native: Any, link: Qh3Link) -> None:
        self._native = native
        self._link = link

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._native, name)
        if callable(value):
            setattr(self, name, value)  # methods are looked up once; properties each time
        return value

    def next_event(self) -> Any:
        link = self._link
        native = self._native
        if link.hold and native.state not in _CLOSED_STATES:
            return None
        event = native.next_event()
        if event is not None:
            kind = event[0]
            if kind == "stream_data":
                link.popped(event[1], len(event[2]))
            elif kind == "stream_finished":
                link.finished.append(event[1])
            elif kind == "peer_closed":
                link.by_peer = True
        return event


class _Connection(QuicConnection):
    """qh3's ``QuicConnection`` with the two construction hooks the link needs."""

    unisock_link: Qh3Link

    def _create_core(self, *args: Any, **kwargs: Any) -> None:
        super()._create_core(*args, **kwargs)
        self._core = _NativeGate(self._core, self.unisock_link)  # type: ignore[assignment]

    def _create_tls(self, *args: Any, **kwargs: Any) -> Any:
        bridge = super()._create_tls(*args, **kwargs)
        link = self.unisock_link
        link.observer = watch(bridge.tls, is_client=link.is_client)
        return bridge


class Qh3Link:
    """One qh3 connection behind the :class:`._link.Link` seam."""

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
        if request_client_certificate:
            raise ValueError("ca: qh3 listeners cannot ask for client certificates")
        self.is_client = bool(configuration.is_client)
        self.credits = credits
        self.window = window
        self.by_peer = False
        self.hold = False
        self.finished: list[int] = []
        self.observer: Any = None
        self.uni_taken: Callable[[], int] = lambda: 0
        self._uni_seen = 0
        self._peer_uni = 3 if self.is_client else 2
        self._popped: dict[int, int] = {}
        self._over: set[int] = set()
        self._done: set[int] = set()
        quic = _Connection(
            configuration=configuration,
            original_destination_connection_id=original_destination_connection_id,
            retry_source_connection_id=retry_source_connection_id,
            session_ticket_fetcher=session_ticket_fetcher,
            session_ticket_handler=session_ticket_handler,
        )
        quic.unisock_link = self  # read by the hooks, which run later (connect, first packet)
        self.quic = quic
        self.host_cid: bytes = quic.host_cid
        self.receive = quic.receive_datagram
        self.receive_many = quic.receive_many_datagrams
        self.get_timer = quic.get_timer
        self.handle_timer = quic.handle_timer
        self.next_event = quic.next_event
        self._send_buffer_size = quic.get_send_buffer_size

    # -- flow control (see the module docstring) ----------------------------------------
    def popped(self, stream_id: int, n: int) -> None:
        """The native core handed over ``n`` bytes of ``stream_id`` (and credit for them)."""
        popped = self._popped
        total = popped.get(stream_id)
        if total is None:
            total = 0
            if stream_id & 3 == self._peer_uni:
                self._uni_seen += 1
                if self._uni_seen - self.uni_taken() >= UNI_STREAM_BACKLOG:
                    self.hold = True
        total += n
        popped[stream_id] = total
        credit = self.credits.get(stream_id)
        if credit is not None and total - credit.consumed >= self.window:
            self._over.add(stream_id)
            self.hold = True

    def refill(self) -> bool:
        if not self.hold:
            return False
        credits = self.credits
        window = self.window
        for stream_id in list(self._over):
            credit = credits.get(stream_id)
            if credit is None or self._popped.get(stream_id, 0) - credit.consumed < window:
                self._over.discard(stream_id)
        if self._over or self._uni_seen - self.uni_taken() >= UNI_STREAM_BACKLOG:
            return False
        self.hold = False
        self.quic._drain_core()
        return True

    # -- packets ------------------------------------------------------------------------
    def connect(self, addr: Address, now: float) -> None:
        self.quic.connect(addr, now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """What the native core has to send.  Polled here rather than through the facade,
        whose ``datagrams_to_send`` loses the datagrams already polled when a later poll
        raises: qh3 2.1 raises "packet builder capacity exhausted" while a server's first
        flight meets the anti-amplification limit (a 1,200-byte client Initial, as
        aioquic's), and recovers on a later poll; qh3's own server survives it the same
        way (upstream bug to report)."""
        core = self.quic._core
        if core is None:
            return []
        out: list[tuple[bytes, Address]] = []
        poll = core.poll_transmit
        while True:
            try:
                transmit = poll(now)
            except RuntimeError as exc:
                if "capacity exhausted" in str(exc):
                    break  # transient: the next input or timer polls again
                raise
            if transmit is None:
                break
            out.append((transmit[0], transmit[1]))
        return out

    # -- streams ------------------------------------------------------------------------
    def has_stream_credit(self, bidirectional: bool, handshake_done: bool) -> bool:
        if not handshake_done:
            return True  # qh3 queues streams until the peer's limits are known
        quic = self.quic
        next_id = quic.get_next_available_stream_id(is_unidirectional=not bidirectional)
        limit = (
            quic.max_concurrent_bidi_streams if bidirectional else (quic.max_concurrent_uni_streams)
        )
        return next_id // 4 < limit

    def open_stream(self, bidirectional: bool) -> int:
        quic = self.quic
        stream_id = quic.get_next_available_stream_id(is_unidirectional=not bidirectional)
        quic.send_stream_data(stream_id, b"")
        return stream_id

    def writer(self, stream_id: int) -> Callable[..., None]:
        return functools.partial(self.quic.send_stream_data, stream_id)

    def unsent(self, stream_id: int) -> int:
        return int(self._send_buffer_size(stream_id))

    held = unsent
    """qh3 keeps unacknowledged bytes natively, bounded by its congestion window: what
    pauses a writer is what has not left yet."""

    def send_done(self, stream_id: int) -> bool:
        return stream_id in self._done

    def stream_ended(self, stream_id: int) -> None:
        """The native core reported ``stream_id`` finished both ways (see ``finished``)."""
        self._done.add(stream_id)
        self._popped.pop(stream_id, None)
        self._over.discard(stream_id)

    def reset(self, stream_id: int, error_code: int) -> None:
        with contextlib.suppress(Exception):  # already reset or finished natively
            self.quic.reset_stream(stream_id, error_code)

    def stop(self, stream_id: int, error_code: int) -> None:
        with contextlib.suppress(Exception):
            self.quic.stop_stream(stream_id, error_code)

    def stream_discarded(self, stream_id: int) -> bool:
        if stream_id in self._done:
            self._done.discard(stream_id)
            return True
        return False

    # -- connection ---------------------------------------------------------------------
    def send_datagram(self, data: bytes) -> None:
        self.quic.send_datagram_frame(data)

    def max_datagram_size(self, handshake_done: bool) -> int | None:
        quic = self.quic
        packet = int(quic.configuration.max_datagram_size)
        remote = quic._remote_max_datagram_frame_size
        if remote is None:
            return None if handshake_done else packet - _DATAGRAM_OVERHEAD
        return min(int(remote), packet) - _DATAGRAM_OVERHEAD

    def close(self, error_code: int, reason: str, frame_type: int | None = None) -> None:
        self.quic.close(error_code=error_code, frame_type=frame_type, reason_phrase=reason)

    def close_event(self) -> Any:
        return self.quic._close_event

    def close_pending(self) -> bool:
        return False  # qh3 writes CONNECTION_CLOSE into the next datagrams_to_send()

    def decrypted_any(self) -> bool:
        return True  # the listener decrypted the first Initial itself (_wire.initial_decrypts)

    def facts(self) -> TLSFacts:
        quic = self.quic
        config = quic.configuration
        own = config.certificate
        ctx = quic.tls
        if self.is_client and getattr(ctx, "_certificate_request", None) is None:
            own = None  # the server did not ask for it, so it was not sent
        peer = quic.get_peercert()
        observer, self.observer = self.observer, None
        return facts(
            is_client=self.is_client,
            suite=quic.get_cipher(),
            certificate=bytes(own.public_bytes()) if own is not None else None,
            peer_certificate=bytes(peer.public_bytes()) if peer is not None else None,
            servername=config.server_name if self.is_client else None,
            observer=observer,
        )

    def client_certificate_error(self, cadata: bytes) -> tuple[int, str] | None:
        raise AssertionError("qh3 listeners never ask for client certificates")


link = Qh3Link
"""Make the :class:`._link.Link` of one connection (what :mod:`._engines` callers use)."""
