"""``Socket``: one connection (or one QUIC stream) with web-standard streams.

Theory of operation.  A socket owns a ``readable`` byte stream and a ``writable`` stream
and talks to its transport through the stream seam (``_transports.base``), so TCP, TLS
over TCP (our own TLS layer) and QUIC streams all look the same from here; ``update()``
swaps the transport under the same streams for STARTTLS.  What differs by type is its
driver's (``driver``): how it opens, listens, checks its material, counts packets.

The socket is in parts, one module each, over one set of slots: the per-chunk path
(``channel.ByteChannel``), the ``"data"`` event mode (``data_events.DataEvents``), the
``body`` sender (``body``), the life cycle (``lifecycle``: every state change is an input
looked up in one table) and this class, the public surface with opening and closing.

Life cycle: ``connecting`` -> ``open`` -> ``closing`` -> ``closed``.  The socket closes
once both directions are done (the peer's EOF or a cancelled readable; our FIN), or on
abort or a transport error.  ``closed`` settles on those transport facts only, never on
an upgrade.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Unpack

from .. import errors
from .._base.deferred import Deferred
from .._base.kwargs import SocketKwargs, SocketUpdateKwargs
from .._base.malloc import tune_malloc
from .._base.options import Options, SocketInit
from .._base.records import SocketInfo, SocketStats, tcp_segments
from .._runtime import current
from .._runtime.base import Handle, Runtime, Task
from .._transports.base import StreamTransport
from .._transports.tcp import reset
from ..abort import AbortController, AbortSignal, as_exception
from ..events import Event, EventTarget
from ..streams import ReadableStream, WritableStream
from .body import check_body, start_body
from .channel import DEFAULT_WRITE_HWM, _StreamProtocol, read_future_class
from .data_events import DataEvents
from .driver import driver
from .info import build_info
from .lifecycle import (
    CLOSED,
    CONNECTING,
    IDLE_STEPS,
    Input,
    grace_deadline,
    idle_check_due,
    ready_deadline,
    step,
)
from .socket_events import ErrorEvent
from .update import update_socket

__all__ = ["Socket", "connect"]


class Socket(DataEvents):
    """A connected socket: ``readable``, ``writable``, ``ready``, ``closed`` and events.

    ``Socket(init=None, /, **init)`` starts connecting at once on the running loop and
    returns still connecting: writes made before ``ready`` are queued.  The runtime
    (asyncio, uvloop or trio) is the caller's, found once here.
    """

    __slots__ = (
        "_abort_controller",
        "_body_task",
        "_closed",
        "_direction",
        "_driver",
        "_dropped",
        "_fast_open",
        "_fast_open_sent",
        "_final_packets",
        "_grace_timer",
        "_idle_mark",
        "_idle_timer",
        "_info",
        "_loop",
        "_open_task",
        "_opts",
        "_peer",
        "_protocol",
        "_ready",
        "_ready_timer",
        "_session_mark",
        "_state",
        "_tls",
        "_transport",
        "connection",
    )

    _ready_timer: Handle | None
    _fast_open: bytes | None
    _idle_timer: Handle | None
    _grace_timer: Handle | None

    CLOSE_GRACE: ClassVar[float] = 5.0
    """Seconds ``close()`` waits for queued data to drain before it aborts."""

    HANDSHAKE_TIMEOUT: ClassVar[float] = 60.0
    """Seconds a TLS or QUIC socket may take to become ready when ``ready_timeout`` is not
    set (asyncio's ``ssl_handshake_timeout``): a server that never answers the handshake
    cannot hold a socket forever."""

    def __init__(
        self, init: SocketInit | Mapping[str, Any] | None = None, /, **kwargs: Unpack[SocketKwargs]
    ) -> None:
        opts = SocketInit.parse(init, kwargs)
        check_body(opts.body)
        driver(opts.transport).check_client(opts)  # bad material fails here, not at ready
        try:
            loop = current()
        except RuntimeError:
            raise RuntimeError(
                "Socket() needs a running event loop: create it inside async code"
            ) from None
        driver(opts.transport).check_runtime(loop)
        self._setup(loop, opts)
        if opts.signal is not None:
            if opts.signal.aborted:
                self._abort(opts.signal.reason)
                return
            signal = opts.signal
            remove = signal._add_algorithm(lambda: self._abort(signal.reason))
            self._closed.add_done_callback(lambda _: remove())  # no reference once closed
        deadline = ready_deadline(
            loop.time(), opts.ready_timeout, self._driver.handshake_bounded, self.HANDSHAKE_TIMEOUT
        )
        if deadline is not None:
            self._ready_timer = loop.call_at(deadline, self._ready_timed_out)
        if opts.body is not None:
            self._fast_open = self._driver.early_data(self, opts.body)
        self._start_opening()
        if opts.body is not None:
            start_body(self, opts.body)

    # -- construction ---------------------------------------------------------------
    def _setup(self, loop: Runtime, opts: Options) -> None:
        tune_malloc()
        EventTarget.__init__(self)
        self._loop = loop
        self._read_future = read_future_class(loop)
        self._opts = opts
        self._driver = driver(opts.transport)
        self._state = CONNECTING
        self._transport: StreamTransport | None = None
        self._data_callbacks: list[Any] | None = None
        self._data_sole: Any = None  # the only "data" listener, if there is exactly one
        self._data_backlog: list[bytes] | None = None
        self._protocol = _StreamProtocol(self)  # after _data_callbacks: see _data_entry
        self._tls: Any = None
        self._direction = "both"
        self.connection: Any = None
        self._ready: Deferred[SocketInfo] = Deferred()
        self._closed: Deferred[None] = Deferred()
        self._abort_controller = AbortController()
        self._bytes_received = 0
        self._bytes_written = 0
        self._write_paused = False
        self._drain: Deferred[None] | None = None
        self._read_paused = False
        self._eof = False
        self._read_done = False
        self._write_done = False
        self._ready_timer = None
        self._idle_timer = None
        self._grace_timer = None
        self._idle_mark = -1
        self._final_packets: tuple[int, int] | None = None
        self._dropped = 0
        self._peer: Any = None
        self._pending_error: BaseException | None = None
        self._pipe: Any = None
        self._fast_open = None
        self._fast_open_sent = 0
        self._body_task: Task[None] | None = None
        self._open_task: Task[None] | None = None
        self._session_mark = -1
        self._resuming = False
        self._info: SocketInfo | None = None  # built on first read, or when it opens
        self._make_streams(opts)
        self._driver.setup(self)

    @classmethod
    def _accepted(cls, loop: Runtime, opts: Options) -> tuple[Socket, _StreamProtocol]:
        """A socket for a connection a listener accepted (its transport comes next)."""
        self = cls.__new__(cls)
        self._setup(loop, opts)
        return self, self._protocol

    def _start_opening(self) -> None:
        task = self._open_task = self._loop.create_task(self._driver.open(self))
        task.add_done_callback(self._opened)

    def _opened(self, task: Task[None]) -> None:
        self._open_task = None
        if task.cancelled():
            self._fail(errors.AbortError("the connection attempt was cancelled"))
            return
        exc = task.exception()
        if exc is not None:
            self._fail(errors.translate(exc, f"cannot connect to {self._opts.remote}"))

    # -- public surface ---------------------------------------------------------------
    @property
    def readable(self) -> ReadableStream[bytes]:
        """The bytes received (``None`` on a send-only QUIC stream)."""
        return None if self._direction == "send" else self._readable  # type: ignore[return-value]

    @property
    def writable(self) -> WritableStream[Any]:
        """Where bytes to send go (``None`` on a receive-only QUIC stream)."""
        return None if self._direction == "receive" else self._writable  # type: ignore[return-value]

    def _set_direction(self, direction: str) -> None:
        """Make this socket one-way (a unidirectional QUIC stream)."""
        self._direction = direction
        if direction == "receive":
            self._write_done = True
            self._writable._controller._clear_algorithms()
            self._writable._state = "closed"
        elif direction == "send":
            self._read_done = True
            self._readable._close()

    @property
    def ready(self) -> Deferred[SocketInfo]:
        """Resolves to ``info`` once connected (and the TLS handshake done)."""
        return self._ready

    @property
    def closed(self) -> Deferred[None]:
        """Resolves once both directions are done; rejects on abort or a network error."""
        return self._closed

    @property
    def signal(self) -> AbortSignal:
        """Aborted when the socket is aborted."""
        return self._abort_controller.signal

    @property
    def stats(self) -> SocketStats:
        return SocketStats(self)

    @property
    def info(self) -> SocketInfo:
        """What the socket is connected to and how (a snapshot, refreshed on access)."""
        info = self._info
        if info is None:  # not open yet: what was asked for
            info = self._info = build_info(
                self._opts.type_label, self._opts.remote, self._opts.local
            )
        tls = self._tls
        if (
            tls is not None
            and info.cipher is not None
            and not tls._sslobj.server_side
            and self._session_mark != self._bytes_received
            and (info.session is None or not info.session.has_ticket)
        ):
            # TLS 1.3 tickets arrive after the handshake: hand out the resumable session.
            # Read again only once more bytes have come in (a ticket comes with them) and
            # only until it has a ticket: each read of SSLObject.session leaks a copy on
            # CPython 3.11-3.13 (CPython #116810).
            self._session_mark = self._bytes_received
            session = tls._sslobj.session
            old = info.session
            if session is not None and (
                old is None or session.id != old.id or session.has_ticket != old.has_ticket
            ):
                info = self._info = dataclasses.replace(info, session=session)
        return info

    def stream(self) -> AsyncIterator[bytes]:
        """Iterate the received chunks (the draft's ``socket.stream()``)."""
        return self._readable.values()

    async def close(self) -> None:
        """Flush what is queued, send FIN, stop reading; bounded by ``CLOSE_GRACE``."""
        if self._state is not CLOSED:
            self._begin_close()
        with contextlib.suppress(Exception):
            await self._closed

    async def abort(self, reason: Any = None) -> None:
        """Abrupt end (TCP RST): queued data is dropped, both streams error with ``reason``."""
        self._abort(reason)

    async def update(
        self,
        init: SocketInit | Mapping[str, Any] | None = None,
        /,
        **kwargs: Unpack[SocketUpdateKwargs],
    ) -> None:
        """Change timeouts, ``no_delay``, buffer sizes, ``ttl``; or upgrade to TLS in place."""
        await update_socket(self, init, kwargs)

    async def __aenter__(self) -> Socket:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self._abort(exc)
            with contextlib.suppress(Exception):
                await self._closed
        else:
            await self.close()

    def __repr__(self) -> str:
        remote = self._info.remote if self._info is not None else self._opts.remote
        return f"<Socket {self._opts.type_label} {self._state} remote={remote}>"

    # -- transport attachment ---------------------------------------------------------
    def _attach(self, transport: StreamTransport) -> None:
        self._transport = transport
        high = self._opts.send_buffer_size or DEFAULT_WRITE_HWM
        with contextlib.suppress(Exception):
            transport.set_write_buffer_limits(high=high, low=high // 4)
        if self._state is CLOSED:
            # Aborted while connecting: the opener aborts the transport once the loop has
            # fully taken it over.  Aborting here, inside connection_made, would let uvloop
            # close the fd while the Python socket object still owns the number, and its
            # second close (at garbage collection) would hit whichever connection got the
            # number next.
            return
        if self._read_paused or self._read_done:
            with contextlib.suppress(Exception):
                transport.pause_reading()

    def _open(self, info: SocketInfo) -> None:
        """Connected (and handshaken): resolve ``ready`` and start the idle clock."""
        state = step(self._state, Input.CONNECTED)
        if state is None:
            return
        self._state = state
        self._info = info
        if self._ready_timer is not None:
            self._ready_timer.cancel()
            self._ready_timer = None
        if self._opts.idle_timeout:
            self._arm_idle()
        self._ready.resolve(info)
        self._maybe_finish()

    # -- receiving (hot path) ---------------------------------------------------------

    # -- sending ----------------------------------------------------------------------

    def _maybe_finish(self) -> None:
        if not (self._read_done and self._write_done):
            return
        state = step(self._state, Input.FINISHED)
        if state is None:
            return
        self._state = state
        self._snapshot_packets()
        transport = self._transport
        if transport is not None:
            if self._resuming:
                # Inside the stock loop's own write callback (a close queued behind the
                # drain): closing here would make asyncio call connection_lost twice.
                self._loop.call_soon(transport.close)
            else:
                transport.close()
            self._arm_grace()

    # -- closing ------------------------------------------------------------------------
    def _begin_close(self) -> None:
        readable = self._readable
        if readable._state == "readable":
            readable._cancel(None)
        elif not self._read_done:
            self._readable_cancelled(None)
        writable = self._writable
        if (
            writable._state == "writable"
            and writable._close_request is None
            and writable._in_flight_close is None
        ):
            writable._close_stream()
        if self._state is not CLOSED:
            self._arm_grace()
        self._maybe_finish()

    def _arm_grace(self) -> None:
        if self._grace_timer is None:
            deadline = grace_deadline(self._loop.time(), self.CLOSE_GRACE)
            if deadline is not None:
                self._grace_timer = self._loop.call_at(deadline, self._grace_expired)

    def _grace_expired(self) -> None:
        self._grace_timer = None
        if self._state is CONNECTING:  # the peer never answered: nobody to blame
            why = "the connection was never established"
            if self._tls is not None:
                why = "the TLS handshake never finished"
            self._abort(errors.TimeoutError(f"close() gave up after {self.CLOSE_GRACE} s: {why}"))
        elif self._state is not CLOSED:
            self._abort(
                errors.TimeoutError(
                    f"close() gave up after {self.CLOSE_GRACE} s: the peer is not reading"
                )
            )

    def _snapshot_packets(self) -> None:
        transport = self._transport
        if transport is not None and self._final_packets is None:
            self._final_packets = tcp_segments(transport.get_extra_info("socket"))

    def _abort(self, reason: Any) -> None:
        state = step(self._state, Input.ABORTED)
        if state is None:
            return
        exc = (
            as_exception(reason)
            if reason is not None
            else errors.AbortError("the socket was aborted")
        )
        self._snapshot_packets()
        self._state = state
        self._abort_controller.abort(reason if reason is not None else exc)
        transport = self._transport
        if transport is not None:
            reset(transport)  # RST, not FIN
        self._teardown(exc)
        self._dispatch_close()

    def _fail(self, exc: BaseException) -> None:
        """A connect or transport failure: reject everything with ``exc``."""
        state = step(self._state, Input.FAILED)
        if state is None:
            return
        self._state = state
        self._abort_controller.abort(exc)  # every abrupt end aborts ``signal`` with it
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        self._teardown(exc)
        self.dispatch_event(ErrorEvent(exc))
        self._dispatch_close()

    def _teardown(self, exc: BaseException) -> None:
        self._cancel_timers()
        self._read_done = self._write_done = True
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.reject(exc)
        if self._readable._state == "readable":
            self._rctrl._error(exc)
        writable = self._writable
        if writable._state == "writable":
            writable._controller._clear_algorithms()
            writable._start_erroring(exc)
        self._ready.reject(exc)
        self._closed.reject(exc)
        if self._body_task is not None and not self._body_task.done():
            self._body_task.cancel()
        if self._open_task is not None and not self._open_task.done():
            self._open_task.cancel()  # a connect or handshake still under way stops
        if self._opts.sock is not None:  # adopted, and maybe not yet taken by a transport
            from .._transports.adopt import release_unclaimed

            release_unclaimed(self._opts.sock)

    def _dispatch_close(self) -> None:
        # The event is made only for someone to hear it: most sockets have no listener.
        if self._listeners.get("close"):
            self.dispatch_event(Event("close"))

    def _cancel_timers(self) -> None:
        timer = self._ready_timer
        if timer is not None:
            self._ready_timer = None
            timer.cancel()
        timer = self._idle_timer
        if timer is not None:
            self._idle_timer = None
            timer.cancel()
        timer = self._grace_timer
        if timer is not None:
            self._grace_timer = None
            timer.cancel()

    def _on_lost(self, exc: BaseException | None) -> None:
        self._snapshot_packets()
        if self._state is CLOSED:
            return
        state = step(self._state, Input.LOST_CLEAN) if exc is None and self._write_done else None
        if state is not None:
            if not self._eof and self._readable._state == "readable":
                self._rctrl.close()
            self._state = state
            self._cancel_timers()
            self._closed.resolve(None)
            self._dispatch_close()
            return
        if exc is None:
            exc = errors.NetworkError("the connection was closed before the socket was done")
        self._fail(errors.translate(exc, "connection lost"))

    # -- timeouts ---------------------------------------------------------------------
    def _ready_timed_out(self) -> None:
        self._ready_timer = None
        if self._state is CONNECTING:
            timeout = self._opts.ready_timeout
            if timeout:
                message = f"not ready after ready_timeout={timeout} s"
            else:
                message = (
                    f"the {self._driver.name.upper()} handshake was not done after "
                    f"{self.HANDSHAKE_TIMEOUT:g} s (set ready_timeout to change the bound)"
                )
            self._fail(errors.TimeoutError(message))

    def _arm_idle(self) -> None:
        timeout = self._opts.idle_timeout
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if timeout:
            self._idle_mark = self._bytes_received + self._bytes_written
            due = idle_check_due(self._loop.time(), timeout)
            self._idle_timer = self._loop.call_at(due, self._idle_check, 1)

    def _idle_check(self, quarters: int) -> None:
        self._idle_timer = None
        if self._state is CLOSED:
            return
        mark = self._bytes_received + self._bytes_written
        timeout = self._opts.idle_timeout
        if mark != self._idle_mark:
            self._idle_mark = mark
            quarters = 0
        elif quarters >= IDLE_STEPS:
            self._abort(errors.TimeoutError(f"idle for idle_timeout={timeout} s"))
            return
        due = idle_check_due(self._loop.time(), timeout)
        self._idle_timer = self._loop.call_at(due, self._idle_check, quarters + 1)

    # -- stats --------------------------------------------------------------------------

    def _stat_packets(self) -> tuple[int, int]:
        return self._driver.packets(self)

    # -- body -------------------------------------------------------------------------


async def connect(
    init: SocketInit | Mapping[str, Any] | None = None, /, **kwargs: Unpack[SocketKwargs]
) -> Socket:
    """Open a socket and wait until it is ready (connected, handshaken).

    Cancelling the wait (e.g. ``asyncio.wait_for`` or a trio cancel scope timing out)
    aborts the socket: nobody holds it, so its connect, fd and task must not outlive the
    call."""
    sock = Socket(init, **kwargs)
    try:
        await sock.ready
    except BaseException:
        # Cancelled (asyncio's CancelledError, trio's Cancelled) or interrupted; after a
        # rejection of ``ready`` the socket is closed already and this changes nothing.
        sock._abort(errors.AbortError("connect() was cancelled"))
        raise
    return sock
