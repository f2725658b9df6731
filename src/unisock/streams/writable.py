"""``WritableStream``: the WHATWG Streams sink state machine, with a synchronous fast path.

A stream is ``writable``, ``erroring``, ``errored`` or ``closed``.  Writes queue in the
controller and go to the sink one at a time; ``close`` queues behind them; ``abort`` drops
the queue.  When the stream is idle and the sink's ``write`` returns without an awaitable
(a socket whose kernel buffer has room), the write completes inside ``writer.write()`` and
returns an already-settled result: no queue entry, no Future, no loop pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._base.deferred import RESOLVED_NONE, Deferred
from ..abort import AbortController, as_exception
from ._common import SizeFn, extract_strategy, get_member, invoke, invoke_start

if TYPE_CHECKING:
    from ..abort import AbortSignal

__all__ = ["WritableStream", "WritableStreamDefaultController", "WritableStreamDefaultWriter"]

T = TypeVar("T")

WRITABLE = "writable"
CLOSED = "closed"
ERRORING = "erroring"
ERRORED = "errored"

_CLOSE = object()

WriteFn = Callable[[Any], "Deferred[Any] | None"]
CloseFn = Callable[[], "Deferred[Any] | None"]
AbortFn = Callable[[Any], "Deferred[Any] | None"]


def _abort_error(reason: Any) -> BaseException:
    if reason is None:
        from ..errors import AbortError

        return AbortError("the stream was aborted")
    return as_exception(reason)


def _sync_done(d: Deferred[Any] | None) -> bool:
    return d is None or d is RESOLVED_NONE or (d.done() and not d.is_rejected())


class WritableStreamDefaultController:
    """Given to the sink: ``error(e)`` fails the stream; ``signal`` tells of an abort."""

    __slots__ = (
        "_abort",
        "_abort_controller",
        "_close",
        "_hwm",
        "_queue",
        "_size",
        "_sizes",
        "_started",
        "_stream",
        "_total",
        "_write",
    )

    def __init__(self, stream: WritableStream[Any], hwm: float, size: SizeFn | None) -> None:
        self._stream = stream
        self._hwm = hwm
        self._size = size
        self._queue: deque[Any] = deque()
        self._sizes: deque[float] = deque()
        self._total = 0.0
        self._started = False
        self._write: WriteFn | None = None
        self._close: CloseFn | None = None
        self._abort: AbortFn | None = None
        self._abort_controller: AbortController | None = None

    @property
    def signal(self) -> AbortSignal:
        if self._abort_controller is None:
            self._abort_controller = AbortController()
        return self._abort_controller.signal

    @property
    def desired_size(self) -> float:
        return self._hwm - self._total

    def error(self, e: Any = None) -> None:
        if self._stream._state == WRITABLE:
            self._clear_algorithms()
            self._stream._start_erroring(
                _abort_error(e) if e is not None else TypeError("the sink errored the stream")
            )

    # -- internals ----------------------------------------------------------------------
    def _clear_algorithms(self) -> None:
        self._write = None
        self._close = None
        self._abort = None

    def _chunk_size(self, chunk: Any) -> float:
        if self._size is None:
            return 1.0
        try:
            size = float(self._size(chunk))
            if not size >= 0 or size == float("inf"):
                raise ValueError(f"the strategy's size must be finite and >= 0, got {size!r}")
        except Exception as exc:
            if self._stream._state == WRITABLE:
                self._clear_algorithms()
                self._stream._start_erroring(exc)
            raise
        return size

    def _dequeue(self) -> None:
        self._queue.popleft()
        self._total -= self._sizes.popleft()
        if not self._queue:
            self._total = 0.0

    def _advance(self) -> None:
        stream = self._stream
        while True:
            if not self._started or stream._in_flight_write is not None:
                return
            if stream._state == ERRORING:
                stream._finish_erroring()
                return
            if not self._queue:
                return
            chunk = self._queue[0]
            if chunk is _CLOSE:
                self._process_close()
                return
            stream._in_flight_write = stream._write_requests.popleft()
            write = self._write
            result = write(chunk) if write is not None else None
            if not _sync_done(result):
                assert result is not None
                result.add_done_callback(self._write_done)
                return
            self._write_finished()

    def _write_done(self, d: Deferred[Any]) -> None:
        exc = d.exception()
        if exc is None:
            self._write_finished()
            self._advance()
            return
        stream = self._stream
        if stream._state == WRITABLE:
            self._clear_algorithms()
        in_flight = stream._in_flight_write
        stream._in_flight_write = None
        assert in_flight is not None
        # State first, then the reactions (they run synchronously and must see it).
        stream._deal_with_rejection(exc)
        in_flight.reject(exc)

    def _write_finished(self) -> None:
        stream = self._stream
        in_flight = stream._in_flight_write
        stream._in_flight_write = None
        assert in_flight is not None
        self._dequeue()
        if stream._close_request is None and stream._state == WRITABLE:
            stream._update_backpressure()
        in_flight.resolve(None)

    def _process_close(self) -> None:
        stream = self._stream
        stream._in_flight_close = stream._close_request
        stream._close_request = None
        self._queue.popleft()
        self._sizes.popleft()
        close = self._close
        self._clear_algorithms()
        try:
            result = close() if close is not None else None
        except Exception as exc:  # a sink close that throws rejects the close, as in WHATWG
            stream._finish_in_flight_close_with_error(exc)
            return
        if _sync_done(result):
            stream._finish_in_flight_close()
        else:
            assert result is not None
            result.add_done_callback(self._close_done)

    def _close_done(self, d: Deferred[Any]) -> None:
        exc = d.exception()
        if exc is None:
            self._stream._finish_in_flight_close()
        else:
            self._stream._finish_in_flight_close_with_error(exc)


class WritableStreamDefaultWriter(Generic[T]):
    """Writes to a locked ``WritableStream``; ``ready`` waits out backpressure."""

    __slots__ = ("_closed", "_ready", "_stream")

    def __init__(self, stream: WritableStream[T]) -> None:
        if not isinstance(stream, WritableStream):
            raise TypeError(f"expected a WritableStream, got {stream!r}")
        if stream._writer is not None:
            raise TypeError("the WritableStream is locked to another writer")
        self._stream: WritableStream[T] | None = stream
        stream._writer = self
        state = stream._state
        if state == WRITABLE:
            if (
                stream._close_request is None
                and stream._in_flight_close is None
                and (stream._backpressure)
            ):
                self._ready: Deferred[None] = Deferred()
            else:
                self._ready = RESOLVED_NONE
            self._closed: Deferred[None] = Deferred()
        elif state == ERRORING:
            assert stream._stored_error is not None
            self._ready = Deferred.rejected(stream._stored_error)
            self._closed = Deferred()
        elif state == CLOSED:
            self._ready = RESOLVED_NONE
            self._closed = RESOLVED_NONE
        else:
            assert stream._stored_error is not None
            self._ready = Deferred.rejected(stream._stored_error)
            self._closed = Deferred.rejected(stream._stored_error)

    @property
    def ready(self) -> Deferred[None]:
        return self._ready

    @property
    def closed(self) -> Deferred[None]:
        return self._closed

    @property
    def desired_size(self) -> float | None:
        stream = self._stream
        if stream is None:
            raise TypeError("the writer has been released")
        state = stream._state
        if state in (ERRORED, ERRORING):
            return None
        if state == CLOSED:
            return 0
        return stream._controller._hwm - stream._controller._total

    def write(self, chunk: T) -> Deferred[None]:
        """Queue ``chunk`` at once; the result settles when the sink has taken it."""
        stream = self._stream
        if stream is None:
            return Deferred.rejected(TypeError("the writer has been released"))
        controller = stream._controller
        state = stream._state
        if (
            state == WRITABLE
            and stream._close_request is None
            and (stream._in_flight_close is None)
        ):
            if (
                not controller._queue
                and stream._in_flight_write is None
                and controller._started
                and controller._size is None
            ):
                # Fast path: idle stream, sink takes the chunk synchronously.
                write = controller._write
                try:
                    result = write(chunk) if write is not None else None
                except Exception as exc:
                    result = Deferred.rejected(exc)
                if result is None or result is RESOLVED_NONE:
                    return RESOLVED_NONE
                return self._write_pending(chunk, result)
            try:
                size = controller._chunk_size(chunk)
            except Exception as exc:
                return Deferred.rejected(exc)
            if stream._state != WRITABLE:
                assert stream._stored_error is not None
                return Deferred.rejected(stream._stored_error)
            request: Deferred[None] = Deferred()
            stream._write_requests.append(request)
            controller._queue.append(chunk)
            controller._sizes.append(size)
            controller._total += size
            stream._update_backpressure()
            controller._advance()
            return request
        if (
            state == CLOSED
            or stream._close_request is not None
            or (stream._in_flight_close is not None)
        ):
            return Deferred.rejected(TypeError("cannot write: the stream is closing or closed"))
        assert stream._stored_error is not None
        return Deferred.rejected(stream._stored_error)

    def _write_pending(self, chunk: Any, result: Deferred[Any]) -> Deferred[None]:
        """The fast path's sink took ``chunk`` but its ``result`` is a pending (or failed)
        write: the chunk is in flight until it settles (``_stream`` is set)."""
        stream = self._stream
        assert stream is not None
        controller = stream._controller
        request: Deferred[None] = Deferred()
        stream._in_flight_write = request
        controller._queue.append(chunk)
        controller._sizes.append(1.0)
        controller._total += 1.0
        stream._update_backpressure()
        if _sync_done(result):
            controller._write_finished()
            controller._advance()
        else:
            result.add_done_callback(controller._write_done)
        return request

    def close(self) -> Deferred[None]:
        stream = self._stream
        if stream is None:
            return Deferred.rejected(TypeError("the writer has been released"))
        if stream._close_request is not None or stream._in_flight_close is not None:
            return Deferred.rejected(TypeError("the stream is already closing"))
        return stream._close_stream()

    def abort(self, reason: Any = None) -> Deferred[None]:
        stream = self._stream
        if stream is None:
            return Deferred.rejected(TypeError("the writer has been released"))
        return stream._abort_stream(reason)

    def release_lock(self) -> None:
        stream = self._stream
        if stream is None:
            return
        exc = TypeError("the writer's lock was released")
        self._reject_ready(exc)
        if stream._state == WRITABLE or stream._state == ERRORING:
            if self._closed.done():
                self._closed = Deferred.rejected(exc)
            else:
                self._closed.reject(exc)
        else:
            self._closed = Deferred.rejected(exc)
        stream._writer = None
        self._stream = None

    def _reject_ready(self, exc: BaseException) -> None:
        if self._ready.done():
            self._ready = Deferred.rejected(exc)
        else:
            self._ready.reject(exc)

    def _close_with_error_propagation(self) -> Deferred[None]:
        stream = self._stream
        assert stream is not None
        state = stream._state
        if (
            stream._close_request is not None
            or stream._in_flight_close is not None
            or (state == CLOSED)
        ):
            return RESOLVED_NONE
        if state == ERRORED:
            assert stream._stored_error is not None
            return Deferred.rejected(stream._stored_error)
        return stream._close_stream()

    async def __aenter__(self) -> WritableStreamDefaultWriter[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release_lock()


class WritableStream(Generic[T]):
    """A destination for chunks with backpressure."""

    __slots__ = (
        "__weakref__",
        "_backpressure",
        "_close_request",
        "_controller",
        "_in_flight_close",
        "_in_flight_write",
        "_in_pipe",
        "_pending_abort",
        "_state",
        "_stored_error",
        "_write_requests",
        "_writer",
    )

    def __init__(self, underlying_sink: Any = None, strategy: Any = None) -> None:
        sink = underlying_sink
        if get_member(sink, "type") is not None:
            raise ValueError("underlying_sink.type is reserved and must not be set")
        hwm, size = extract_strategy(strategy, 1)
        self._setup(hwm, size)
        controller = self._controller
        methods = {name: get_member(sink, name) for name in ("start", "write", "close", "abort")}
        for name, member in methods.items():
            if member is not None and not callable(member):
                raise TypeError(f"underlying_sink.{name} must be callable, got {member!r}")
        write, close, abort = methods["write"], methods["close"], methods["abort"]
        if write is not None:
            controller._write = lambda chunk: invoke(write, chunk, controller)
        if close is not None:
            controller._close = lambda: invoke(close)
        if abort is not None:
            controller._abort = lambda reason: invoke(abort, reason)
        self._update_backpressure()
        start_result = invoke_start(methods["start"], controller)  # a sync raise propagates

        def started(d: Deferred[Any]) -> None:
            controller._started = True
            exc = d.exception()
            if exc is not None:
                self._deal_with_rejection(exc)
            else:
                controller._advance()

        start_result.add_done_callback(started)

    def _setup(self, hwm: float, size: SizeFn | None) -> None:
        self._state = WRITABLE
        self._stored_error: BaseException | None = None
        self._writer: WritableStreamDefaultWriter[T] | None = None
        self._in_flight_write: Deferred[None] | None = None
        self._close_request: Deferred[None] | None = None
        self._in_flight_close: Deferred[None] | None = None
        self._pending_abort: tuple[Deferred[None], Any, bool] | None = None
        self._write_requests: deque[Deferred[None]] = deque()
        self._backpressure = False
        self._in_pipe = False  # a pipe_to holds the writer (it decides when to close)
        self._controller = WritableStreamDefaultController(self, hwm, size)

    @classmethod
    def _create(
        cls,
        *,
        write: WriteFn | None = None,
        close: CloseFn | None = None,
        abort: AbortFn | None = None,
        high_water_mark: float = 1,
        size: SizeFn | None = None,
    ) -> WritableStream[Any]:
        """A stream with internal algorithms (sockets, transforms), started at once."""
        self: WritableStream[Any] = cls.__new__(cls)
        self._setup(high_water_mark, size)
        controller = self._controller
        controller._write = write
        controller._close = close
        controller._abort = abort
        controller._started = True
        self._update_backpressure()
        return self

    # -- public surface -----------------------------------------------------------------
    @property
    def locked(self) -> bool:
        return self._writer is not None

    def get_writer(self) -> WritableStreamDefaultWriter[T]:
        return WritableStreamDefaultWriter(self)

    def abort(self, reason: Any = None) -> Deferred[None]:
        if self._writer is not None:
            return Deferred.rejected(TypeError("cannot abort a stream locked to a writer"))
        return self._abort_stream(reason)

    def close(self) -> Deferred[None]:
        if self._writer is not None:
            return Deferred.rejected(TypeError("cannot close a stream locked to a writer"))
        if self._close_request is not None or self._in_flight_close is not None:
            return Deferred.rejected(TypeError("the stream is already closing"))
        return self._close_stream()

    # -- state machine ------------------------------------------------------------------
    def _update_backpressure(self) -> None:
        controller = self._controller
        backpressure = controller._hwm - controller._total <= 0
        if backpressure == self._backpressure:
            return
        self._backpressure = backpressure
        writer = self._writer
        if writer is not None:
            if backpressure:
                writer._ready = Deferred()
            else:
                writer._ready.resolve(None)

    def _close_stream(self) -> Deferred[None]:
        state = self._state
        if state in (CLOSED, ERRORED):
            return Deferred.rejected(TypeError(f"cannot close a {state} stream"))
        request: Deferred[None] = Deferred()
        self._close_request = request
        controller = self._controller
        controller._queue.append(_CLOSE)
        controller._sizes.append(0.0)
        writer = self._writer
        if writer is not None and self._backpressure and state == WRITABLE:
            writer._ready.resolve(None)
        controller._advance()
        return request

    def _abort_stream(self, reason: Any) -> Deferred[None]:
        if self._state == CLOSED or self._state == ERRORED:
            return RESOLVED_NONE
        controller = self._controller
        if controller._abort_controller is not None:
            controller._abort_controller.abort(reason)
        else:
            controller._abort_controller = AbortController()
            controller._abort_controller.abort(reason)
        state = self._state
        if state in (CLOSED, ERRORED):
            return RESOLVED_NONE
        if self._pending_abort is not None:
            return self._pending_abort[0]
        was_erroring = state == ERRORING
        request: Deferred[None] = Deferred()
        self._pending_abort = (request, None if was_erroring else reason, was_erroring)
        if not was_erroring:
            self._start_erroring(_abort_error(reason))
        return request

    def _start_erroring(self, exc: BaseException) -> None:
        controller = self._controller
        self._state = ERRORING
        self._stored_error = exc
        writer = self._writer
        if writer is not None:
            writer._reject_ready(exc)
        if (
            self._in_flight_write is None
            and self._in_flight_close is None
            and (controller._started)
        ):
            self._finish_erroring()

    def _finish_erroring(self) -> None:
        self._state = ERRORED
        controller = self._controller
        controller._queue.clear()
        controller._sizes.clear()
        controller._total = 0.0
        stored = self._stored_error
        assert stored is not None
        requests, self._write_requests = self._write_requests, deque()
        for request in requests:
            request.reject(stored)
        pending = self._pending_abort
        if pending is None:
            self._reject_close_and_closed()
            return
        self._pending_abort = None
        request, reason, was_erroring = pending
        if was_erroring:
            request.reject(stored)
            self._reject_close_and_closed()
            return
        abort = controller._abort
        controller._clear_algorithms()
        result = abort(reason) if abort is not None else RESOLVED_NONE

        def aborted(d: Deferred[Any]) -> None:
            exc = d.exception()
            if exc is None:
                request.resolve(None)
            else:
                request.reject(exc)
            self._reject_close_and_closed()

        (result or RESOLVED_NONE).add_done_callback(aborted)

    def _reject_close_and_closed(self) -> None:
        stored = self._stored_error
        assert stored is not None
        if self._close_request is not None:
            self._close_request.reject(stored)
            self._close_request = None
        writer = self._writer
        if writer is not None:
            if writer._closed.done():
                writer._closed = Deferred.rejected(stored)
            else:
                writer._closed.reject(stored)

    def _deal_with_rejection(self, exc: BaseException) -> None:
        if self._state == WRITABLE:
            self._start_erroring(exc)
        else:
            self._finish_erroring()

    def _finish_in_flight_close(self) -> None:
        request = self._in_flight_close
        self._in_flight_close = None
        assert request is not None
        pending = None
        if self._state == ERRORING:
            self._stored_error = None
            pending, self._pending_abort = self._pending_abort, None
        self._state = CLOSED
        # Settle only once the state is final: reactions run synchronously.
        if self._writer is not None:
            self._writer._closed.resolve(None)
        request.resolve(None)
        if pending is not None:
            pending[0].resolve(None)

    def _finish_in_flight_close_with_error(self, exc: BaseException) -> None:
        request = self._in_flight_close
        self._in_flight_close = None
        assert request is not None
        pending, self._pending_abort = self._pending_abort, None
        self._deal_with_rejection(exc)
        request.reject(exc)
        if pending is not None:
            pending[0].reject(exc)

    def __repr__(self) -> str:
        return f"<WritableStream {self._state}{' locked' if self._writer else ''}>"
