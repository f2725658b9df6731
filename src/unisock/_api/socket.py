"""``Socket``: one connection (or one QUIC stream) with web-standard streams.

Theory of operation.  A socket owns a ``readable`` byte stream and a ``writable`` stream
and talks to its transport through asyncio's Transport/Protocol seam, so TCP, TLS over
TCP (our own TLS layer), and QUIC streams all look the same from here; ``update()`` swaps
the transport under the same streams for STARTTLS.

Per chunk in: the transport hands ``bytes`` to ``_on_data``, which either fulfils a
waiting read directly or queues the chunk (pausing the transport at the readable's
high-water mark), or, in ``"data"`` event mode, calls the listeners.  Per chunk out: the
writer's fast path calls ``_sink_write``, which writes to the transport and returns
``None`` unless the transport is above its high-water mark.  No task, no future, no loop
look-up per chunk.

Life cycle: ``connecting`` -> ``open`` -> ``closed``.  The socket is closed once both
directions are done (the peer's EOF or a cancelled readable; our FIN), or on abort or a
transport error.  ``closed`` settles on those transport facts only, never on an upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import pathlib
import socket as _socket
import struct
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, Unpack

from .. import errors
from .._base.deferred import RESOLVED_NONE, Deferred
from .._base.kwargs import SocketKwargs, SocketUpdateKwargs
from .._base.malloc import tune_malloc
from .._base.options import Options, SocketInit
from .._base.records import SocketInfo, SocketStats, tcp_segments
from ..abort import AbortController, AbortSignal, as_exception
from ..events import Event, EventTarget, _watch, report_exception
from ..streams import ReadableStream, WritableStream
from ..streams._common import read_result
from ..streams.readable import (
    ReadableByteStreamController,
    ReadableStreamDefaultReader,
)
from .socket_events import ErrorEvent, SocketDataEvent

__all__ = ["Socket", "connect"]

DEFAULT_READ_HWM = 1024 * 1024
DEFAULT_WRITE_HWM = 256 * 1024
READ_BUFFER_SIZE = 256 * 1024

_local = threading.local()


def _read_buffer() -> memoryview:
    """One reusable receive buffer per thread: every chunk is copied out at once."""
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(READ_BUFFER_SIZE))
    return view


class _SocketReadable(ReadableStream[bytes]):
    """A socket's readable: refuses readers in ``"data"`` mode and reports end-of-read."""

    __slots__ = ("_owner",)

    _owner: Socket

    def get_reader(self, mode: str | None = None) -> Any:
        self._owner._check_stream_mode()
        if mode is None:
            return self._default_reader()
        return super().get_reader(mode)

    def _default_reader(self) -> ReadableStreamDefaultReader:
        return _SocketReader(self)

    def _pipe_class(self, dest: Any) -> Any:
        from .pipe import pipe_class_for

        return pipe_class_for(self._owner, dest)

    def values(self, *, prevent_cancel: bool = False) -> AsyncGenerator[bytes, None]:
        self._owner._check_stream_mode()
        return super().values(prevent_cancel=prevent_cancel)

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._owner._check_stream_mode()
        return super().__aiter__()

    def _end_observed(self) -> None:
        self._owner._read_end_observed()


class _ReadFuture(asyncio.Future[Any]):
    """A pending socket read: a loop future that also takes the stream's resolve/reject.

    Rejections are marked retrieved at once (never logged when nobody awaits), and a
    cancelled wait withdraws the read so the next chunk goes to the next read.
    """

    _reader: Any = None

    def resolve(self, value: Any) -> None:
        if not self.done():
            self.set_result(value)

    def reject(self, exc: BaseException) -> None:
        if not self.done():
            self.set_exception(exc)
            self.exception()

    def cancel(self, msg: Any = None) -> bool:
        reader = self._reader
        if reader is not None:
            if not self.done():
                requests = reader._requests
                if self in requests:
                    requests.remove(self)
            elif not self.cancelled() and self.exception() is None:
                # Fulfilled, but the awaiting task is cancelled before it ran again (a
                # ``wait_for`` timeout racing the chunk): the task will never see the
                # chunk, so it goes back to the front of the queue for the next read.
                self._reader = None
                result = self.result()
                stream = reader._stream
                if not result.done and result.value and stream is not None:
                    controller = stream._controller
                    controller._queue.appendleft(result.value)
                    controller._total += len(result.value)
        return super().cancel(msg)


class _SocketReader(ReadableStreamDefaultReader):
    """Fails the next read with an error the OS reported meanwhile (UDP's ICMP errors)."""

    __slots__ = ()

    def read(self) -> Deferred[Any]:
        stream = self._stream
        if stream is None:
            return super().read()
        owner = stream._owner  # type: ignore[attr-defined]
        exc = owner._pending_error
        if exc is not None:
            owner._pending_error = None
            return Deferred.rejected(exc)
        controller = stream._controller
        if (
            stream._state == "readable"
            and not controller._queue
            and controller._pull_algorithm is None
            and not getattr(controller, "_pending", None)
            and getattr(controller, "_auto_allocate", None) is None
        ):
            # Nothing queued and the transport is reading: wait for the next chunk on a
            # plain loop future (the cheapest thing a task can wait on).
            stream._disturbed = True
            waiting = _ReadFuture(loop=owner._loop)
            waiting._reader = self
            self._requests.append(waiting)  # type: ignore[arg-type]
            return waiting  # type: ignore[return-value]
        request = super().read()
        request._loop = owner._loop
        return request


class _StreamProtocol(asyncio.BufferedProtocol):
    """Bridges a transport to its socket; the per-chunk receive path starts here.

    When a BYOB read is waiting and nothing is queued, the kernel copies straight into the
    reader's buffer (zero-copy); otherwise into one reusable buffer, copied out once.
    """

    __slots__ = ("_buffer", "_direct", "_socket")

    def __init__(self, sock: Socket) -> None:
        self._socket = sock
        self._buffer = _read_buffer()
        self._direct = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._socket._attach(transport)  # type: ignore[arg-type]

    def get_buffer(self, sizehint: int) -> memoryview:
        controller = self._socket._rctrl
        pending = controller._pending
        if pending and not controller._queue and pending[0].kind == "byob":
            desc = pending[0]
            view = desc.view[desc.filled :]
            if len(view) and self._socket._pipe is None:
                self._direct = True
                return view
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self._direct:  # the bytes are already in the BYOB reader's buffer
            self._direct = False
            sock = self._socket
            sock._bytes_received += nbytes
            controller = sock._rctrl
            if sock._readable._state == "readable" and controller._pending:
                controller._respond(nbytes)
            return
        self._socket._on_data(bytes(self._buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        self._socket._on_data(data if type(data) is bytes else bytes(data))

    def eof_received(self) -> bool:
        self._socket._on_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._socket._on_lost(exc)

    def pause_writing(self) -> None:
        self._socket._write_paused = True

    def resume_writing(self) -> None:
        sock = self._socket
        sock._write_paused = False
        drain = sock._drain
        if drain is not None:
            sock._drain = None
            sock._resuming = True  # see Socket._maybe_finish
            try:
                drain.resolve(None)
            finally:
                sock._resuming = False


def _chain(first: Deferred[Any], then: Callable[[], Deferred[Any] | None]) -> Deferred[None]:
    """Run ``then`` once ``first`` is fulfilled; the outcome of both as one result."""
    out: Deferred[None] = Deferred()

    def finish(d: Deferred[Any]) -> None:
        exc = d.exception()
        if exc is not None:
            out.reject(exc)
        else:
            out.resolve(None)

    def step(d: Deferred[Any]) -> None:
        exc = d.exception()
        if exc is not None:
            out.reject(exc)
            return
        try:
            result = then()
        except Exception as err:
            out.reject(err)
            return
        (result or RESOLVED_NONE).add_done_callback(finish)

    first.add_done_callback(step)
    return out


def _check_body(body: Any) -> None:
    if body is None or callable(body) or hasattr(body, "__await__"):
        return
    ok = (
        str,
        bytes,
        bytearray,
        memoryview,
        ReadableStream,
        pathlib.PurePath,
        io.IOBase,
    )
    if isinstance(body, ok) or hasattr(body, "read") or hasattr(body, "__aiter__"):
        return
    if hasattr(body, "__iter__"):
        return
    raise TypeError(
        "body must be str, bytes-like, a ReadableStream, an (async) iterable of bytes, a "
        f"binary file or Path, an awaitable or a callable returning one, got {body!r}"
    )


class Socket(EventTarget):
    """A connected socket: ``readable``, ``writable``, ``ready``, ``closed`` and events.

    ``Socket(init=None, /, **init)`` starts connecting at once on the running loop and
    returns still connecting: writes made before ``ready`` are queued.
    """

    __slots__ = (
        "_abort_controller",
        "_body_task",
        "_bytes_received",
        "_bytes_written",
        "_closed",
        "_data_backlog",
        "_data_callbacks",
        "_direction",
        "_drain",
        "_dropped",
        "_eof",
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
        "_pending_error",
        "_pipe",
        "_protocol",
        "_rctrl",
        "_read_done",
        "_read_paused",
        "_readable",
        "_ready",
        "_ready_timer",
        "_resuming",
        "_session_mark",
        "_state",
        "_tls",
        "_transport",
        "_writable",
        "_write_done",
        "_write_paused",
        "connection",
    )

    _ready_timer: asyncio.TimerHandle | None
    _fast_open: bytes | None
    _idle_timer: asyncio.TimerHandle | None
    _grace_timer: asyncio.TimerHandle | None

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
        _check_body(opts.body)
        if opts.transport == "tls" or opts.transport == "quic":
            from .tls import validate_client

            validate_client(opts)  # bad key/cert/ca/session fail here, not at ready
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Socket() needs a running event loop: create it inside async code"
            ) from None
        self._setup(loop, opts)
        if opts.signal is not None:
            if opts.signal.aborted:
                self._abort(opts.signal.reason)
                return
            signal = opts.signal
            remove = signal._add_algorithm(lambda: self._abort(signal.reason))
            self._closed.add_done_callback(lambda _: remove())  # no reference once closed
        if opts.ready_timeout:
            self._ready_timer = loop.call_later(opts.ready_timeout, self._ready_timed_out)
        elif opts.transport in ("tls", "quic") and self.HANDSHAKE_TIMEOUT > 0:
            self._ready_timer = loop.call_later(self.HANDSHAKE_TIMEOUT, self._ready_timed_out)
        body = opts.body
        if (
            opts.transport == "tcp"
            and opts.no_delay
            and isinstance(body, str | bytes | bytearray | memoryview)
        ):
            # A small fixed body can ride on the SYN (TCP Fast Open, where the kernel can).
            payload = body.encode() if isinstance(body, str) else bytes(body)
            if 0 < len(payload) <= 1400:
                self._fast_open = payload
        self._start_opening()
        if opts.body is not None:
            self._start_body(opts.body)

    # -- construction ---------------------------------------------------------------
    def _setup(self, loop: asyncio.AbstractEventLoop, opts: Options) -> None:
        tune_malloc()
        EventTarget.__init__(self)
        self._loop = loop
        self._opts = opts
        self._state = "connecting"
        self._transport: asyncio.Transport | None = None
        self._protocol = _StreamProtocol(self)
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
        self._data_callbacks: list[Any] | None = None
        self._data_backlog: list[bytes] | None = None
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
        self._body_task: asyncio.Task[None] | None = None
        self._open_task: asyncio.Task[None] | None = None
        self._session_mark = -1
        self._resuming = False
        self._info = SocketInfo(type=opts.type_label, remote=opts.remote, local=opts.local)
        readable: Any = _SocketReadable._create(
            pull=self._resume_reading,
            cancel=self._readable_cancelled,
            high_water_mark=opts.receive_buffer_size or DEFAULT_READ_HWM,
            bytes_stream=True,
        )
        readable._owner = self
        self._readable: _SocketReadable = readable
        controller = readable._controller
        assert isinstance(controller, ReadableByteStreamController)
        controller._pull_algorithm = None  # only needed while the transport is paused
        self._rctrl = controller
        self._writable: WritableStream[Any] = WritableStream._create(
            write=self._sink_write,
            close=self._sink_close,
            abort=self._sink_abort,
            high_water_mark=1,
        )
        if opts.transport == "udp":
            from .udp import setup_datagram_streams

            setup_datagram_streams(self)

    @classmethod
    def _accepted(
        cls, loop: asyncio.AbstractEventLoop, opts: Options
    ) -> tuple[Socket, _StreamProtocol]:
        """A socket for a connection a listener accepted (its transport comes next)."""
        self = cls.__new__(cls)
        self._setup(loop, opts)
        return self, self._protocol

    def _start_opening(self) -> None:
        from .connectors import open_socket

        task = self._open_task = asyncio.ensure_future(open_socket(self))
        task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[None]) -> None:
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
        if self._state != "closed":
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
        from .update import update_socket

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
        return f"<Socket {self._opts.type_label} {self._state} remote={self._info.remote}>"

    # -- transport attachment ---------------------------------------------------------
    def _attach(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        high = self._opts.send_buffer_size or DEFAULT_WRITE_HWM
        with contextlib.suppress(Exception):
            transport.set_write_buffer_limits(high=high, low=high // 4)
        if self._state == "closed":
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
        if self._state != "connecting":
            return
        self._state = "open"
        self._info = info
        if self._ready_timer is not None:
            self._ready_timer.cancel()
            self._ready_timer = None
        if self._opts.idle_timeout:
            self._arm_idle()
        self._ready.resolve(info)
        self._maybe_finish()

    def _transport_info(self, transport: asyncio.BaseTransport) -> SocketInfo:
        from .._base.address import from_sockaddr

        return SocketInfo(
            type=self._opts.type_label,
            remote=from_sockaddr(transport.get_extra_info("peername")) or self._opts.remote,
            local=from_sockaddr(transport.get_extra_info("sockname")),
        )

    # -- receiving (hot path) ---------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        self._bytes_received += len(data)
        pipe = self._pipe
        if pipe is not None:
            pipe.push(data)
            return
        callbacks = self._data_callbacks
        if callbacks is not None:
            if self._data_backlog is not None:
                self._data_backlog.append(data)
            else:
                self._dispatch_data([data])
            return
        readable = self._readable
        controller = self._rctrl
        if readable._state != "readable" or controller._close_requested:
            return  # cancelled: incoming bytes are dropped
        reader = readable._reader
        if reader is not None and reader._requests and type(reader) is _SocketReader:
            reader._requests.popleft().resolve(read_result(data, False))
            return
        if not data:
            return
        controller.enqueue(data)
        if controller._total >= controller._hwm and not self._read_paused:
            self._pause_reading()

    def _pause_reading(self) -> None:
        self._read_paused = True
        self._rctrl._pull_algorithm = self._resume_reading
        transport = self._transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.pause_reading()

    def _resume_reading(self) -> None:
        controller = self._rctrl
        if self._read_paused and controller._total > controller._hwm // 4:
            return  # hysteresis: resume once the queue is down to a quarter
        controller._pull_algorithm = None
        if not self._read_paused:
            return
        self._read_paused = False
        transport = self._transport
        if transport is not None and not self._read_done:
            with contextlib.suppress(Exception):
                transport.resume_reading()

    def _dispatch_data(self, buffers: list[bytes]) -> None:
        event = SocketDataEvent(buffers)
        event.target = self
        for callback in self._data_callbacks or ():
            try:
                result = callback(event)
            except Exception as exc:
                report_exception(exc, "exception in 'data' event listener")
                continue
            if result is not None and hasattr(result, "__await__"):
                _watch(result, "exception in async 'data' event listener")

    def _check_stream_mode(self) -> None:
        if self._data_callbacks is not None:
            raise TypeError(
                "readable is not available: this socket delivers its bytes to 'data' "
                "event listeners"
            )

    def _listeners_changed(self, type: str) -> None:
        if type != "data":
            return
        entries = self._listeners.get("data")
        if self._data_callbacks is None:
            if not entries:
                return
            if self._readable._reader is not None:
                self.remove_event_listener("data", entries[-1].callback)
                raise TypeError("cannot listen for 'data': readable is locked to a reader already")
            self._enter_data_mode()
        callbacks = [self._entry_caller(e) for e in (entries or ())]
        self._data_callbacks = callbacks
        if not callbacks:
            self._pause_reading()
        elif self._read_paused and not self._read_done:
            self._resume_reading()

    def _entry_caller(self, entry: Any) -> Any:
        callback = entry.callback
        if not entry.once and callable(callback):
            return callback

        def call(event: Event) -> object:
            if entry.once:
                self.remove_event_listener("data", callback)
            if callable(callback):
                return callback(event)
            return callback.handle_event(event)

        return call

    def _enter_data_mode(self) -> None:
        """The first ``"data"`` listener: hand it every queued byte, lock the readable."""
        controller = self._rctrl
        queued = list(controller._queue)
        controller._queue.clear()
        controller._total = 0
        lock = ReadableStreamDefaultReader(self._readable)  # holds the lock for good
        del lock
        self._data_callbacks = []
        self._data_backlog = queued
        self._loop.call_soon(self._flush_backlog)

    def _flush_backlog(self) -> None:
        """Deliver what was queued before the first listener, then what came meanwhile."""
        backlog, self._data_backlog = self._data_backlog, None
        if backlog:
            self._dispatch_data(backlog)
        if self._eof:
            self._data_mode_end()

    def _data_mode_end(self) -> None:
        self.dispatch_event(Event("end"))
        if not self._opts.allow_half_open:
            self._close_writable_after_queued()

    def _on_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        self._read_done = True
        self._rctrl._pull_algorithm = None
        if self._data_callbacks is not None:
            if self._data_backlog is None:
                self._data_mode_end()
        else:
            self.dispatch_event(Event("end"))
            controller = self._rctrl
            if self._readable._state == "readable" and not controller._close_requested:
                controller.close()
                request = controller.byob_request
                if request is not None and self._readable._state == "closed":
                    request.respond(0)
        self._maybe_finish()

    def _read_end_observed(self) -> None:
        if self._eof and not self._opts.allow_half_open:
            self._close_writable_after_queued()

    def _close_writable_after_queued(self) -> None:
        writable = self._writable
        if writable._in_pipe:
            return  # a pipe in flight finishes first and closes it itself
        if (
            writable._state == "writable"
            and writable._close_request is None
            and writable._in_flight_close is None
        ):
            writable._close_stream()

    def _readable_cancelled(self, reason: Any) -> Deferred[None]:
        self._read_done = True
        self._rctrl._pull_algorithm = None
        self._read_paused = True
        transport = self._transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.pause_reading()
        self._maybe_finish()
        return RESOLVED_NONE

    # -- sending ----------------------------------------------------------------------
    def _sink_write(self, chunk: Any) -> Deferred[None] | None:
        transport = self._transport
        if transport is None:
            if self._state == "closed":
                raise errors.InvalidStateError("the socket is closed")
            return _chain(self._ready, lambda: self._sink_write(chunk))
        if type(chunk) is bytes:
            size = len(chunk)
        elif isinstance(chunk, bytearray | memoryview):
            size = memoryview(chunk).nbytes
        elif isinstance(chunk, str):
            raise self._bad_chunk("socket writes take bytes-like chunks, got str: encode it first")
        else:
            try:
                chunk = memoryview(chunk)
            except TypeError:
                raise self._bad_chunk(
                    f"socket writes take bytes-like chunks, got {type(chunk).__name__}"
                ) from None
            size = chunk.nbytes
        transport.write(chunk)
        self._bytes_written += size
        if self._write_paused:
            drain = self._drain
            if drain is None:
                drain = self._drain = Deferred()
            return drain
        return None

    def _bad_chunk(self, message: str) -> TypeError:
        """A write of a bad chunk fails it, errors the writable and aborts the socket (as
        the standard does for a failing sink): the abort runs once the write has failed."""
        exc = TypeError(message)
        self._loop.call_soon(self._abort, exc)
        return exc

    def _sink_close(self) -> Deferred[None] | None:
        if self._transport is None:
            return _chain(self._ready, self._sink_close)
        transport = self._transport
        self._write_done = True
        try:
            if transport.can_write_eof():
                transport.write_eof()
        except (OSError, RuntimeError) as exc:
            raise errors.translate(exc, "cannot half-close") from None
        self._maybe_finish()
        return None

    def _sink_abort(self, reason: Any) -> None:
        if self._state != "closed":
            self._abort(reason)

    def _maybe_finish(self) -> None:
        if self._state != "open" or not (self._read_done and self._write_done):
            return
        self._state = "closing"
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
        if self._state in ("open", "connecting", "closing"):
            self._arm_grace()
        self._maybe_finish()

    def _arm_grace(self) -> None:
        if self._grace_timer is None and self.CLOSE_GRACE > 0:
            self._grace_timer = self._loop.call_later(self.CLOSE_GRACE, self._grace_expired)

    def _grace_expired(self) -> None:
        self._grace_timer = None
        if self._state == "connecting":  # the peer never answered: nobody to blame
            why = "the connection was never established"
            if self._tls is not None:
                why = "the TLS handshake never finished"
            self._abort(errors.TimeoutError(f"close() gave up after {self.CLOSE_GRACE} s: {why}"))
        elif self._state != "closed":
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
        if self._state == "closed":
            return
        exc = (
            as_exception(reason)
            if reason is not None
            else errors.AbortError("the socket was aborted")
        )
        self._snapshot_packets()
        self._state = "closed"
        self._abort_controller.abort(reason if reason is not None else exc)
        transport = self._transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (_socket.AF_INET, _socket.AF_INET6):
                with contextlib.suppress(OSError):
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        self._teardown(exc)
        self.dispatch_event(Event("close"))

    def _fail(self, exc: BaseException) -> None:
        """A connect or transport failure: reject everything with ``exc``."""
        if self._state == "closed":
            return
        self._state = "closed"
        self._abort_controller.abort(exc)  # every abrupt end aborts ``signal`` with it
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        self._teardown(exc)
        self.dispatch_event(ErrorEvent(exc))
        self.dispatch_event(Event("close"))

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

    def _cancel_timers(self) -> None:
        for name in ("_ready_timer", "_idle_timer", "_grace_timer"):
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)

    def _on_lost(self, exc: BaseException | None) -> None:
        self._snapshot_packets()
        if self._state == "closed":
            return
        if exc is None and self._state in ("closing", "open") and self._write_done:
            if not self._eof and self._readable._state == "readable":
                self._rctrl.close()
            self._state = "closed"
            self._cancel_timers()
            self._closed.resolve(None)
            self.dispatch_event(Event("close"))
            return
        if exc is None:
            exc = errors.NetworkError("the connection was closed before the socket was done")
        self._fail(errors.translate(exc, "connection lost"))

    # -- timeouts ---------------------------------------------------------------------
    def _ready_timed_out(self) -> None:
        self._ready_timer = None
        if self._state == "connecting":
            timeout = self._opts.ready_timeout
            if timeout:
                message = f"not ready after ready_timeout={timeout} s"
            else:
                message = (
                    f"the {self._opts.transport.upper()} handshake was not done after "
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
            self._idle_timer = self._loop.call_later(timeout / 4, self._idle_check, 1)

    def _idle_check(self, quarters: int) -> None:
        self._idle_timer = None
        if self._state == "closed":
            return
        mark = self._bytes_received + self._bytes_written
        timeout = self._opts.idle_timeout
        if mark != self._idle_mark:
            self._idle_mark = mark
            quarters = 0
        elif quarters >= 4:
            self._abort(errors.TimeoutError(f"idle for idle_timeout={timeout} s"))
            return
        self._idle_timer = self._loop.call_later(timeout / 4, self._idle_check, quarters + 1)

    # -- stats --------------------------------------------------------------------------
    def _stat_bytes_sent(self) -> int:
        transport = self._transport
        pending = 0
        if transport is not None and self._state != "closed":
            with contextlib.suppress(Exception):
                pending = transport.get_write_buffer_size()
        return self._bytes_written - pending

    def _stat_packets(self) -> tuple[int, int]:
        transport: Any = self._transport
        if self._opts.transport == "udp":  # datagrams are the packets
            return (transport.sent, transport.received) if transport is not None else (0, 0)
        connection = self.connection
        if connection is not None:  # QUIC: the connection's packets
            stats = connection.stats
            return stats["packets_sent"], stats["packets_received"]
        if self._state == "closed" or self._final_packets is not None:
            return self._final_packets or (0, 0)
        segments = tcp_segments(transport.get_extra_info("socket")) if transport else None
        return segments or (0, 0)

    # -- body -------------------------------------------------------------------------
    def _start_body(self, body: Any) -> None:
        writer = self._writable.get_writer()
        task = asyncio.ensure_future(self._send_body(body, writer))
        self._body_task = task

        def done(t: asyncio.Task[None]) -> None:
            if not t.cancelled() and (exc := t.exception()) is not None:
                self._abort(exc)

        task.add_done_callback(done)

    async def _send_body(self, body: Any, writer: Any) -> None:
        if self._fast_open is not None:
            await self._ready  # the connect sent what the SYN could carry
            rest = self._fast_open[self._fast_open_sent :]
            if rest:
                writer.write(rest)
            await writer.close()
            return
        for _ in range(8):
            if hasattr(body, "__await__"):
                body = await body
            elif callable(body) and not isinstance(body, ReadableStream):
                body = body()
            else:
                break
        if isinstance(body, str):
            body = body.encode()
        if isinstance(body, bytes | bytearray | memoryview):
            if len(body):
                writer.write(body)
            await writer.close()
            return
        if isinstance(body, ReadableStream):
            writer.release_lock()
            await body.pipe_to(self._writable)
            return
        if isinstance(body, pathlib.PurePath):
            with open(body, "rb") as file:  # noqa: ASYNC230 - local file, opened once
                await self._send_file(file, writer)
            return
        if hasattr(body, "read"):
            await self._send_file(body, writer)
            return
        if hasattr(body, "__aiter__"):
            async for chunk in body:
                await writer.ready
                writer.write(chunk.encode() if isinstance(chunk, str) else chunk)
        elif hasattr(body, "__iter__"):
            for chunk in body:
                await writer.ready
                writer.write(chunk.encode() if isinstance(chunk, str) else chunk)
        else:
            raise TypeError(f"body resolved to an unsupported value: {body!r}")
        await writer.close()

    async def _send_file(self, file: Any, writer: Any) -> None:
        await self._ready
        transport = self._transport
        if (
            self._tls is None
            and transport is not None
            and isinstance(transport, asyncio.Transport)
            and hasattr(file, "fileno")
        ):
            try:
                await writer.ready
                sent = await self._loop.sendfile(transport, file, fallback=False)
                self._bytes_written += sent
                await writer.close()
                return
            except (NotImplementedError, RuntimeError, AttributeError, io.UnsupportedOperation):
                pass
            except asyncio.SendfileNotAvailableError:
                pass
        while True:
            chunk = file.read(256 * 1024)
            if not chunk:
                break
            await writer.ready
            writer.write(chunk)
        await writer.close()


async def connect(
    init: SocketInit | Mapping[str, Any] | None = None, /, **kwargs: Unpack[SocketKwargs]
) -> Socket:
    """Open a socket and wait until it is ready (connected, handshaken).

    Cancelling the wait (e.g. ``asyncio.wait_for`` timing out) aborts the socket: nobody
    holds it, so its connect, fd and task must not outlive the call."""
    sock = Socket(init, **kwargs)
    try:
        await sock.ready
    except asyncio.CancelledError:
        sock._abort(errors.AbortError("connect() was cancelled"))
        raise
    return sock
