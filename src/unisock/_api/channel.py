"""The per-chunk path of a socket: bytes in from the transport, bytes out to it.

Per chunk in: the transport hands ``bytes`` to ``_on_data`` (through ``_StreamProtocol``),
which fulfils a waiting read directly or queues the chunk (pausing the transport at the
readable's high-water mark), or, in ``"data"`` event mode, calls the listeners
(``data_events``).  When a BYOB read is waiting and nothing is queued, the kernel copies
straight into the reader's buffer.  Per chunk out: the writer's fast path calls
``_sink_write``, which writes to the transport and returns ``None`` unless the transport
is above its high-water mark.  No task, no future, no loop look-up per chunk.

``ByteChannel`` is a part of ``Socket`` (a mixin over the socket's own slots), kept in
its own module so that the hot path can be read, measured and tuned in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import errors
from .._base.buffers import thread_buffer
from .._base.deferred import RESOLVED_NONE, Deferred
from .._runtime import is_asyncio
from ..events import Event, EventTarget
from ..streams import ReadableStream, WritableStream
from ..streams._common import ReadResult, read_result
from ..streams.readable import (
    ReadableByteStreamController,
    ReadableStreamAsyncIterator,
    ReadableStreamDefaultReader,
)
from ..streams.writable import WritableStreamDefaultWriter
from .lifecycle import CLOSED, State

if TYPE_CHECKING:
    from .._base.options import Options
    from .._runtime.base import Runtime
    from .driver import Driver
    from .socket import Socket

__all__ = ["DEFAULT_READ_HWM", "DEFAULT_WRITE_HWM", "ByteChannel"]

DEFAULT_READ_HWM = 1024 * 1024
DEFAULT_WRITE_HWM = 256 * 1024
READ_BUFFER_SIZE = 256 * 1024

_new_tuple = tuple.__new__


def _read_buffer() -> memoryview:
    """This thread's receive buffer for BYOB-mode sockets: every chunk is copied out at once."""
    return thread_buffer("stream", READ_BUFFER_SIZE)


class _SocketReadable(ReadableStream[bytes]):
    """A socket's readable: refuses readers in ``"data"`` mode and reports end-of-read."""

    __slots__ = ("_owner",)

    _owner: Socket

    def get_reader(self, mode: str | None = None) -> Any:
        owner = self._owner
        owner._check_stream_mode()
        if mode is None:
            return self._default_reader()
        reader = super().get_reader(mode)
        owner._use_byob_protocol()
        return reader

    def _default_reader(self) -> ReadableStreamDefaultReader:
        return _SocketReader(self)

    def _pipe_class(self, dest: Any) -> Any:
        from .pipe import pipe_class_for

        return pipe_class_for(self._owner, dest)

    def values(self, *, prevent_cancel: bool = False) -> ReadableStreamAsyncIterator[bytes]:
        self._owner._check_stream_mode()
        return super().values(prevent_cancel=prevent_cancel)

    def __aiter__(self) -> ReadableStreamAsyncIterator[bytes]:
        self._owner._check_stream_mode()
        return super().__aiter__()

    def _end_observed(self) -> None:
        self._owner._read_end_observed()


class _SocketWritable(WritableStream[Any]):
    """A socket's writable: its writers send a ``bytes`` chunk in one call."""

    __slots__ = ("_owner",)

    _owner: ByteChannel

    def get_writer(self) -> WritableStreamDefaultWriter[Any]:
        return _SocketWriter(self)


class _SocketWriter(WritableStreamDefaultWriter[Any]):
    """``write()`` of a ``bytes`` chunk on an idle, open socket goes to the transport at
    once (the sink's fast path folded into the writer: one Python call per chunk)."""

    __slots__ = ()

    def write(self, chunk: Any) -> Deferred[None]:
        stream: Any = self._stream
        if stream is not None and type(chunk) is bytes:
            owner = stream._owner
            transport = owner._transport
            # An empty queue also means no write in flight (its chunk stays queued until it
            # settles) and no close requested (the close sentinel is queued): see writable.py.
            if (
                transport is not None
                and not owner._write_paused
                and stream._state == "writable"
                and not stream._controller._queue
                and stream._in_flight_close is None
            ):
                transport.write(chunk)
                owner._bytes_written += len(chunk)
                if not owner._write_paused:
                    return RESOLVED_NONE
                return self._write_pending(chunk, owner._drain_deferred())
        return WritableStreamDefaultWriter.write(self, chunk)  # no super(): no closure cell


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
        if self._reader is not None:
            _withdraw(self)
        return super().cancel(msg)


def _withdraw(request: Any) -> None:
    """A read's waiting task is cancelled: take the read request back, or, when the chunk
    already arrived, put it back at the front of the queue (a ``wait_for`` timeout racing
    the chunk: the task will never see it)."""
    reader = request._reader
    if not request.done():
        requests = reader._requests
        if request in requests:
            requests.remove(request)
    elif not request.cancelled() and request.exception() is None:
        request._reader = None
        result = request.result()
        stream = reader._stream
        if not result.done and result.value and stream is not None:
            controller = stream._controller
            controller._queue.appendleft(result.value)
            controller._total += len(result.value)


class _RuntimeReadRequest:
    """``_ReadFuture``'s behaviour over another runtime's future (trio's)."""

    __slots__ = ()

    _reader: Any

    def resolve(self, value: Any) -> None:
        if not self.done():  # type: ignore[attr-defined]
            self.set_result(value)  # type: ignore[attr-defined]

    def reject(self, exc: BaseException) -> None:
        if not self.done():  # type: ignore[attr-defined]
            self.set_exception(exc)  # type: ignore[attr-defined]

    def cancel(self, msg: Any = None) -> bool:
        if self._reader is not None:
            _withdraw(self)
        return super().cancel(msg)  # type: ignore[misc,no-any-return]


_read_futures: dict[type, type] = {}
"""The read future class of each runtime class that is not asyncio's."""


def read_future_class(loop: Runtime) -> type:
    """The class of a socket's pending reads on ``loop``: ``_ReadFuture`` on asyncio (the
    per-chunk path checks for it by identity), a subclass of the runtime's own future
    elsewhere."""
    if is_asyncio(loop):
        return _ReadFuture
    found = _read_futures.get(type(loop))  # by the runtime's class: no future made per socket
    if found is None:
        base = type(loop.create_future())
        found = _read_futures[type(loop)] = type(
            "_RuntimeReadFuture", (_RuntimeReadRequest, base), {"__slots__": ("_reader",)}
        )
    return found


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
        controller: Any = stream._controller
        if (
            stream._state == "readable"
            and not controller._queue
            and controller._pull_algorithm is None
            and not controller._pending
            and controller._auto_allocate is None
        ):
            # Nothing queued and the transport is reading: wait for the next chunk on a
            # plain loop future (the cheapest thing a task can wait on).
            stream._disturbed = True
            waiting = owner._read_future(loop=owner._loop)
            waiting._reader = self
            self._requests.append(waiting)
            return waiting  # type: ignore[no-any-return]
        request = super().read()
        request._loop = owner._loop
        return request


class _Receiver:
    """What every socket protocol does besides receiving bytes (shared by the two below)."""

    __slots__ = ()

    _socket: Socket

    def connection_made(self, transport: Any) -> None:
        self._socket._attach(transport)

    def eof_received(self) -> bool:
        self._socket._on_eof()
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
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


class _StreamProtocol(_Receiver, asyncio.Protocol):
    """Bridges a transport to its socket; the per-chunk receive path starts here.

    A plain ``Protocol``: the loop hands over each chunk as a new ``bytes`` (one copy,
    made by ``recv``, and one Python call per chunk).  A socket switches its TCP
    transport to ``_ByobProtocol`` when a BYOB reader is taken (``_use_byob_protocol``).
    """

    __slots__ = ("_socket", "data_received")

    def __init__(self, sock: Socket) -> None:
        self._socket = sock
        # The transport calls the socket's own method: no hop through this object per
        # chunk (uvloop even caches the bound method once).  Every transport hands over
        # ``bytes`` (the loops' recv, our TLS layer, QUIC streams).
        self.data_received = sock._data_entry()  # type: ignore[method-assign,assignment]


class _ByobProtocol(_Receiver, asyncio.BufferedProtocol):
    """The receive path for BYOB readers: when a BYOB read is waiting and nothing is
    queued, the kernel copies straight into the reader's buffer (zero-copy); otherwise
    into one reusable buffer, copied out once.  (Not a ``Protocol`` subclass: uvloop
    treats a class that is both as a plain ``Protocol``.)"""

    __slots__ = ("_buffer", "_direct", "_socket")

    def __init__(self, sock: Socket) -> None:
        self._socket = sock
        self._buffer = _read_buffer()
        self._direct = False

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

    def data_received(self, data: bytes) -> None:  # from TLS and QUIC streams
        self._socket._on_data(data if type(data) is bytes else bytes(data))


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


class ByteChannel(EventTarget):
    """The socket's streams and their per-chunk algorithms (the base of ``Socket``)."""

    __slots__ = (
        "_bytes_received",
        "_bytes_written",
        "_data_backlog",
        "_data_callbacks",
        "_data_sole",
        "_drain",
        "_eof",
        "_pending_error",
        "_pipe",
        "_rctrl",
        "_read_done",
        "_read_future",
        "_read_paused",
        "_readable",
        "_resuming",
        "_writable",
        "_write_done",
        "_write_paused",
    )

    _bytes_received: int
    _bytes_written: int
    _data_backlog: list[bytes] | None
    _data_callbacks: list[Any] | None
    _data_sole: Any
    _drain: Deferred[None] | None
    _eof: bool
    _pending_error: BaseException | None
    _pipe: Any
    _rctrl: ReadableByteStreamController
    _read_done: bool
    _read_paused: bool
    _read_future: type
    _readable: _SocketReadable
    _resuming: bool
    _writable: WritableStream[Any]
    _write_done: bool
    _write_paused: bool
    # The socket's own (see Socket):
    _driver: Driver
    _protocol: Any
    _loop: Runtime
    _opts: Options
    _ready: Deferred[Any]
    _state: State
    _transport: Any

    if TYPE_CHECKING:

        def _abort(self, reason: Any) -> None: ...
        def _maybe_finish(self) -> None: ...
        def _dispatch_data(self, buffers: list[bytes]) -> None: ...
        def _data_mode_end(self) -> None: ...
        def _check_stream_mode(self) -> None: ...

    def _use_byob_protocol(self) -> None:
        """A BYOB reader was taken: let the loop's TCP transport fill its buffers directly
        (zero-copy) from now on; other transports deliver ``bytes`` either way."""
        if not self._driver.zero_copy_reads or isinstance(self._protocol, _ByobProtocol):
            return
        protocol = _ByobProtocol(self)  # type: ignore[arg-type]
        self._protocol = protocol
        transport = self._transport
        if transport is not None:
            transport.set_protocol(protocol)

    def _make_streams(self, opts: Options) -> None:
        """The readable (a byte stream fed by ``_on_data``) and the writable (whose sink
        writes to the transport)."""
        readable: Any = _SocketReadable._create(
            pull=self._resume_reading,
            cancel=self._readable_cancelled,
            high_water_mark=opts.receive_buffer_size or DEFAULT_READ_HWM,
            bytes_stream=True,
        )
        readable._owner = self
        self._readable = readable
        controller = readable._controller
        assert isinstance(controller, ReadableByteStreamController)
        controller._pull_algorithm = None  # only needed while the transport is paused
        self._rctrl = controller
        writable: Any = _SocketWritable._create(
            write=self._sink_write,
            close=self._sink_close,
            abort=self._sink_abort,
            high_water_mark=1,
        )
        writable._owner = self
        self._writable = writable

    def _data_entry(self) -> Callable[[bytes], None]:
        """What the transport calls per chunk: ``_on_data`` (the ``"data"`` mode has its
        own, see ``data_events``)."""
        return self._on_data

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
            request: Any = reader._requests.popleft()
            if type(request) is _ReadFuture:
                # Pending for sure: a cancelled or settled read is never left queued.
                request.set_result(_new_tuple(ReadResult, (data, False)))
            else:
                request.resolve(read_result(data, False))
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

    def _sink_write(self, chunk: Any) -> Deferred[None] | None:
        transport = self._transport
        if transport is None:
            if self._state is CLOSED:
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
            return self._drain_deferred()
        return None

    def _drain_deferred(self) -> Deferred[None]:
        """Settles when the transport drops below its low-water mark (``resume_writing``)."""
        drain = self._drain
        if drain is None:
            drain = self._drain = Deferred()
        return drain

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
        if self._state is not CLOSED:
            self._abort(reason)

    def _stat_bytes_sent(self) -> int:
        transport = self._transport
        pending = 0
        if transport is not None and self._state is not CLOSED:
            with contextlib.suppress(Exception):
                pending = transport.get_write_buffer_size()
        return self._bytes_written - pending
