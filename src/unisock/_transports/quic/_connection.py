"""``QuicConnectionCore``: one QUIC connection driven on the loop, streams as transports.

The core feeds datagrams from its endpoint into the QUIC core's connection (a
:class:`._link.Link`: qh3 or aioquic), turns its events into transport and protocol calls,
sends what it has to send once per loop pass (``transmit``, called by the endpoint's
flush), and keeps exactly one loop timer armed at ``get_timer()``.  It never sleeps and
never creates a task.

Ending: the core settles ``closed`` as soon as the QUIC core knows the connection is over (the
close frame has been sent, or the peer's has been received, or the idle timer fired) and
releases its endpoint at once, skipping RFC 9000's closing/draining period: the only cost is
that a peer whose packets cross our CONNECTION_CLOSE gets no second copy of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Callable
from typing import Any

from ..._base.deferred import Deferred
from ..._runtime.base import Future, Handle, Runtime
from ...errors import InvalidStateError, NetworkError, TimeoutError, TLSError, network_error
from ...events import report_exception
from ._endpoint import Address, Endpoint
from ._errors import CRYPTO_ERROR, termination_error
from ._link import Link
from ._options import QuicTLSOptions
from ._stream import QuicStreamTransport

__all__ = ["OnStream", "QuicConnectionCore"]

OnStream = Callable[[QuicStreamTransport, bool], "asyncio.BaseProtocol | None"]
"""``on_stream(transport, bidirectional)``: return a protocol to attach, or attach one."""


class QuicConnectionCore:
    """A QUIC connection (client or server side) whose streams are asyncio transports."""

    def __init__(
        self,
        loop: Runtime,
        link: Link,
        endpoint: Endpoint,
        *,
        peer: Address,
        options: QuicTLSOptions,
        streams: dict[int, QuicStreamTransport],
        client_ca: bytes | None = None,
    ) -> None:
        self.loop = loop
        self.link = link
        self.endpoint = endpoint
        self.peer = peer
        self.local = endpoint.local
        self.options = options
        self.is_client = link.is_client
        self.handshake: Deferred[dict[str, Any]] = Deferred()
        self.closed: Deferred[None] = Deferred()
        self.on_datagram: Callable[[bytes], object] | None = None
        self.on_ready: Callable[[QuicConnectionCore], None] | None = None
        self.on_end: list[Callable[[QuicConnectionCore], None]] = []
        self.streams = streams
        self.packets_sent = 0
        self.packets_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.datagrams_dropped = 0
        self.flush_pending = False
        self.closed_by_us = False
        self.write_paused: set[QuicStreamTransport] = set()
        self.closing_streams: set[QuicStreamTransport] = set()
        self._on_stream: OnStream | None = None
        self._unclaimed: list[tuple[QuicStreamTransport, bool]] = []
        self._retiring: list[int] = []
        self._retired_peer: set[int] = set()
        self._pending: list[bytes] = []
        self._pending_addr: Address = peer
        self._open_waiters: list[Future[None]] = []
        self.uni_offered = 0
        self.uni_take: Callable[[], int] | None = None
        """Set by a layer that queues peer uni streams: how many the application took.
        Unset, a uni stream counts as taken once offered to ``on_stream``."""
        link.uni_taken = self._uni_taken
        self._ev = link.EV
        self._timer: Handle | None = None
        self._timer_at: float | None = None
        self._heard_from_peer = False
        self._handshake_done = False
        self._ready_announced = False
        self._client_ca = client_ca
        self._finished = False
        self._error: Exception | None = None

    # -- public surface ----------------------------------------------------------------
    @property
    def on_stream(self) -> OnStream | None:
        return self._on_stream

    @on_stream.setter
    def on_stream(self, callback: OnStream | None) -> None:
        self._on_stream = callback
        if callback is not None and self._unclaimed:
            unclaimed, self._unclaimed = self._unclaimed, []
            for transport, bidirectional in unclaimed:
                self._offer_stream(transport, bidirectional)

    @property
    def is_closing(self) -> bool:
        """True once closing started; a pool must not hand this connection out again."""
        return self._finished or self.link.close_event() is not None

    async def open_stream(
        self, bidirectional: bool = True, protocol: asyncio.BaseProtocol | None = None
    ) -> QuicStreamTransport:
        """Open a stream, waiting for stream credit if the peer's limit is reached."""
        link = self.link
        while True:
            if self._finished:
                raise self._error or InvalidStateError("the QUIC connection is closed")
            if link.close_event() is not None:
                raise InvalidStateError("the QUIC connection is closing")
            if link.has_stream_credit(bidirectional, self._handshake_done):
                break
            waiter = self.loop.create_future()
            self._open_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._open_waiters:
                    self._open_waiters.remove(waiter)
        stream_id = link.open_stream(bidirectional)
        self.schedule_flush()
        transport = QuicStreamTransport(
            self, stream_id, "bidirectional" if bidirectional else "send"
        )
        self.streams[stream_id] = transport
        if protocol is not None:
            transport.attach(protocol)
        return transport

    def send_datagram(self, data: bytes | bytearray | memoryview) -> None:
        """Send one RFC 9221 datagram (unreliable); ``ValueError`` if it cannot fit."""
        if self.is_closing:
            raise InvalidStateError("the QUIC connection is closed")
        limit = self.max_datagram_size
        if limit is None:
            raise InvalidStateError("the QUIC peer does not accept datagrams")
        if len(data) > limit:
            raise ValueError(f"a QUIC datagram holds at most {limit} bytes, not {len(data)}")
        self.link.send_datagram(bytes(data))
        self.schedule_flush()

    @property
    def max_datagram_size(self) -> int | None:
        """Largest datagram payload that fits one packet, or None if the peer takes none."""
        return self.link.max_datagram_size(self._handshake_done)

    def close(self, code: int = 0, reason: str = "") -> None:
        """Close the whole connection (CONNECTION_CLOSE with ``code``); ``closed`` resolves."""
        if self._finished or self.link.close_event() is not None:
            return
        self.closed_by_us = True
        self.link.close(code, reason)
        self.schedule_flush()

    def abandon(self, protocol: asyncio.BaseProtocol) -> None:
        """The stream opened for ``protocol`` gave up before the handshake completed:
        close the connection unless another stream uses it or waits to open."""
        if self.handshake.done() or self.is_closing or self._open_waiters:
            return
        if any(t.get_protocol() is not protocol for t in self.streams.values()):
            return
        self.close()

    def handshake_timed_out(self, seconds: float) -> None:
        """Close a connection whose handshake is not done after ``seconds`` (server side)."""
        link = self.link
        if self._finished or self.handshake.done() or link.close_event() is not None:
            return
        self._error = TimeoutError(f"the QUIC handshake did not finish in {seconds:g} s")
        link.close(link.CONNECTION_REFUSED, "timeout")
        self.schedule_flush()

    @property
    def stats(self) -> dict[str, int]:
        """UDP datagrams and bytes; each datagram after the handshake carries one packet."""
        return {
            "packets_sent": self.packets_sent,
            "packets_received": self.packets_received,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
        }

    # -- driven by the endpoint --------------------------------------------------------
    def schedule_flush(self) -> None:
        if not self.flush_pending and not self._finished:
            self.flush_pending = True
            self.endpoint.mark_dirty(self)

    def queue(self, data: bytes, addr: Address) -> None:
        """A datagram for this connection; the endpoint calls :meth:`deliver` after its
        read batch, so the QUIC core takes the whole batch in one call."""
        pending = self._pending
        if not pending:
            self._pending_addr = addr
            self.endpoint.fed(self)
        elif addr != self._pending_addr:  # the peer moved: one batch per address
            self.deliver(self.loop.time())
            self._pending_addr = addr
            self.endpoint.fed(self)
        pending.append(data)

    def deliver(self, now: float) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._finished:
            return
        self.packets_received += len(pending)
        self.bytes_received += sum(map(len, pending))
        try:
            self.link.receive_many(pending, self._pending_addr, now)
        except Exception as exc:  # the QUIC core must never take the loop down
            self._fail(exc)
            return
        self._heard_from_peer = True
        self._process_events()
        self._after_input()
        self.schedule_flush()

    def datagram_received(self, data: bytes, addr: Address, now: float) -> None:
        """One datagram, taken at once (a listener's first datagram of a connection)."""
        self.queue(data, addr)
        self.deliver(now)

    def transmit(self, now: float) -> None:
        """Send everything the QUIC core has ready, then re-arm the timer."""
        self.flush_pending = False
        if self._finished:
            return
        link = self.link
        if link.refill():  # readers caught up: events (and credit) held back flow again
            self._process_events()
            self._after_input()
            if self._finished:
                return
        try:
            datagrams = link.datagrams_to_send(now)
        except Exception as exc:
            self._fail(exc)
            return
        if datagrams:
            self.packets_sent += len(datagrams)
            self.bytes_sent += sum([len(d) for d, _ in datagrams])
            self.endpoint.send_many(datagrams)
            if self._finished:
                return
        event = link.close_event()
        if event is not None and not link.close_pending():
            self._finish(event)
            return
        if self.write_paused:
            for transport in list(self.write_paused):
                transport.resume_writing_if_drained()
        if self._retiring:
            self._sweep_retired()
        timer_at = link.get_timer()
        if timer_at != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None if timer_at is None else self.loop.call_at(timer_at, self._on_timer)
            self._timer_at = timer_at

    def network_failed(self, exc: OSError) -> None:
        """The UDP socket reported an error (ICMP port or host unreachable)."""
        if self._finished:
            return
        self._error = network_error(exc, "QUIC peer unreachable")
        self._finish(None)

    # -- internals ---------------------------------------------------------------------
    def _on_timer(self) -> None:
        timer_at = self._timer_at
        self._timer = None
        self._timer_at = None
        if self._finished:
            return
        now = self.loop.time()
        try:
            self.link.handle_timer(max(now, timer_at or now))
        except Exception as exc:
            self._fail(exc)
            return
        self._process_events()
        self._after_input()
        self.transmit(now)

    def _process_events(self) -> None:
        link = self.link
        ev = self._ev
        streams = self.streams
        stream_data = ev.StreamDataReceived
        next_event = link.next_event
        while True:
            event = next_event()
            if event is None:
                if link.finished:
                    self._streams_finished()
                if link.refill():
                    continue
                return
            kind = type(event)
            if kind is stream_data:
                transport = streams.get(event.stream_id)
                if transport is None:
                    transport = self._peer_stream(event.stream_id)
                    if transport is None:
                        continue
                transport.data_arrived(event.data, event.end_stream)
            elif kind is ev.DatagramFrameReceived:
                self._datagram_arrived(event.data)
            elif kind is ev.StreamReset:
                transport = streams.get(event.stream_id)
                if transport is not None:
                    transport.peer_reset(event.error_code)
            elif kind is ev.StopSendingReceived:
                transport = streams.get(event.stream_id)
                if transport is not None:
                    transport.peer_stopped(event.error_code)
            elif kind is ev.ProtocolNegotiated:
                if self._client_ca is None:
                    self._announce_ready()
            elif kind is ev.HandshakeCompleted:
                self._handshake_completed(event)
            elif kind is ev.ConnectionTerminated:
                self._finish(event)
                return
            elif kind is ev.ConnectionIdIssued:
                self._connection_id_changed(event.connection_id, True)
            elif kind is ev.ConnectionIdRetired:
                self._connection_id_changed(event.connection_id, False)

    def _streams_finished(self) -> None:
        """The QUIC core finished streams both ways: closers may report, and retire."""
        link = self.link
        done, link.finished = link.finished, []
        for stream_id in done:
            link.stream_ended(stream_id)
            transport = self.streams.get(stream_id)
            if transport is None:
                link.stream_discarded(stream_id)
            elif transport in self.closing_streams:
                transport.sender_progress()
        if self._retiring:
            self._sweep_retired()

    def _connection_id_changed(self, cid: bytes, issued: bool) -> None:
        """Overridden by server connections, which route datagrams by connection ID."""

    def _datagram_arrived(self, data: bytes) -> None:
        callback = self.on_datagram
        if callback is None:
            self.datagrams_dropped += 1
            return
        try:
            callback(data)
        except Exception as exc:
            report_exception(exc, "QUIC on_datagram callback raised")

    def _peer_stream(self, stream_id: int) -> QuicStreamTransport | None:
        if (not stream_id & 1) == self.is_client:
            return None  # one of ours that was already closed
        if stream_id in self._retired_peer:
            return None  # one of the peer's that we already ended
        bidirectional = not stream_id & 2
        transport = QuicStreamTransport(
            self, stream_id, "bidirectional" if bidirectional else "receive"
        )
        self.streams[stream_id] = transport
        if self._on_stream is None:
            self._unclaimed.append((transport, bidirectional))
        else:
            self._offer_stream(transport, bidirectional)
        return transport

    def _uni_taken(self) -> int:
        take = self.uni_take
        return self.uni_offered if take is None else take()

    def stream_taken(self) -> None:
        """The application took a peer uni stream: send the credit it frees now."""
        self.schedule_flush()

    def _offer_stream(self, transport: QuicStreamTransport, bidirectional: bool) -> None:
        assert self._on_stream is not None
        if not bidirectional:
            self.uni_offered += 1
        try:
            protocol = self._on_stream(transport, bidirectional)
        except Exception as exc:
            report_exception(exc, "QUIC on_stream callback raised")
            transport.abort(0x0101)
            return
        if protocol is not None:
            transport.attach(protocol)

    def _after_input(self) -> None:
        """ACKs and MAX_STREAMS may have arrived: wake writers, closers and openers."""
        if self.write_paused:
            for transport in list(self.write_paused):
                transport.resume_writing_if_drained()
        if self.closing_streams:
            for transport in list(self.closing_streams):
                transport.sender_progress()
        if self._open_waiters:
            for waiter in self._open_waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def stream_gone(self, transport: QuicStreamTransport) -> None:
        """A transport reported connection_lost; forget it once the QUIC core has too."""
        stream_id = transport.stream_id
        if (not stream_id & 1) != self.is_client:
            self._retired_peer.add(stream_id)
        self._retiring.append(stream_id)
        self.schedule_flush()

    def _sweep_retired(self) -> None:
        discarded = self.link.stream_discarded
        keep = []
        for stream_id in self._retiring:
            if discarded(stream_id):
                self.streams.pop(stream_id, None)
                self._retired_peer.discard(stream_id)
            else:
                keep.append(stream_id)
        self._retiring = keep

    def _handshake_completed(self, event: Any) -> None:
        self._handshake_done = True
        if self._client_ca is not None and not self._client_certificate_ok():
            return
        verified = self.is_client and self.options.verify
        if not self.is_client:
            verified = self._client_ca is not None
        facts = self.link.facts()
        self.handshake.resolve(
            {
                "type": event.alpn_protocol,
                **facts,
                "verification_status": "ok" if verified else None,
                "session_resumed": event.session_resumed,
                "early_data_accepted": event.early_data_accepted,
                "remote": self.peer,
                "local": self.local,
            }
        )
        self._announce_ready()

    def _client_certificate_ok(self) -> bool:
        assert self._client_ca is not None
        problem = self.link.client_certificate_error(self._client_ca)
        if problem is None:
            return True
        alert, reason = problem
        self._error = TLSError(f"client certificate rejected: {reason}", reason)
        self.link.close(CRYPTO_ERROR + alert, reason, frame_type=0x06)
        self.schedule_flush()
        return False

    def _announce_ready(self) -> None:
        if self._ready_announced:
            return
        self._ready_announced = True
        callback = self.on_ready
        if callback is not None:
            try:
                callback(self)
            except Exception as exc:
                report_exception(exc, "QUIC on_connection callback raised")

    def _fail(self, exc: Exception) -> None:
        """The QUIC core raised: close this connection only, with an internal error."""
        self._error = NetworkError(f"QUIC internal error: {exc!r}", errno.EPROTO)
        with contextlib.suppress(Exception):
            self.link.close(self.link.INTERNAL_ERROR, "internal")
            for data, addr in self.link.datagrams_to_send(self.loop.time()):
                self.endpoint.send(data, addr)
        self._finish(None)

    def _finish(self, event: Any) -> None:
        if self._finished:
            return
        self._finished = True
        self.flush_pending = True  # never queue this core again
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        err = self._error
        if err is None and event is not None:
            err = termination_error(
                event,
                by_peer=self.link.by_peer,
                by_us_on_request=self.closed_by_us,
                handshake_done=self._handshake_done,
                heard_from_peer=self._heard_from_peer,
                idle_timeout=self.options.idle_timeout,
            )
        if (
            isinstance(err, TLSError)
            and self.is_client
            and err.verification_status is not None
            and self.options.servername
            and self.options.servername not in str(err)
        ):
            # qh3 does not name the host a certificate did not match: say which it was.
            err = TLSError(
                f"{err} (server name {self.options.servername!r})", err.verification_status
            )
        self._error = err
        if not self.handshake.done():
            self.handshake.reject(
                err
                or NetworkError(
                    "the QUIC connection closed during the handshake", errno.ECONNABORTED
                )
            )
        for transport in list(self.streams.values()):
            transport.connection_ended(err)
        for transport, _ in self._unclaimed:
            transport.connection_ended(err)
        self._unclaimed.clear()
        for waiter in self._open_waiters:
            if not waiter.done():
                waiter.set_result(None)
        for callback in self.on_end:
            try:
                callback(self)
            except Exception as exc:
                report_exception(exc, "QUIC connection end callback raised")
        self.on_end.clear()
        if err is None:
            self.closed.resolve(None)
        else:
            self.closed.reject(err)

    def __repr__(self) -> str:
        side = "client" if self.is_client else "server"
        state = "closed" if self._finished else "open"
        return f"<QuicConnectionCore {side} {self.peer!r} {state}>"
