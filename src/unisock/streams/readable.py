"""``ReadableStream``: the WHATWG Streams state machine, fast on the byte path.

Theory of operation.  A stream is ``readable``, ``closed`` or ``errored`` and only moves
forward.  Chunks wait in the controller's queue until a reader takes them; a reader that
finds the queue empty leaves a read request (a ``Deferred``) that the next ``enqueue``
fulfils directly.  The standard settles promises in microtasks; Python has none, so here
an already-available result is returned settled (no Future, no Task, no loop pass) and
internal reactions run synchronously.  ``async for`` is an async generator that takes
queued chunks straight from the queue and only awaits when it is empty.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .._base.deferred import _FULFILLED, _REJECTED, RESOLVED_NONE, Deferred
from .._runtime import current, running_loop
from ..abort import as_exception
from ._common import (
    DONE,
    ReadResult,
    SizeFn,
    extract_strategy,
    get_member,
    invoke,
    invoke_start,
    read_result,
    to_bytes,
)

if TYPE_CHECKING:
    from ..abort import AbortSignal
    from .writable import WritableStream

__all__ = [
    "ReadableByteStreamController",
    "ReadableStream",
    "ReadableStreamBYOBReader",
    "ReadableStreamBYOBRequest",
    "ReadableStreamDefaultController",
    "ReadableStreamDefaultReader",
    "ReadResult",
]

T = TypeVar("T")

READABLE = "readable"
CLOSED = "closed"
ERRORED = "errored"

_DONE_D: Deferred[ReadResult] = Deferred.resolved(DONE)

PullFn = Callable[[], "Deferred[Any] | None"]
CancelFn = Callable[[Any], "Deferred[Any] | None"]


class _ControllerBase:
    """What both controllers share: pulling, starting, and the stream they feed."""

    __slots__ = (
        "_cancel_algorithm",
        "_close_requested",
        "_hwm",
        "_pull_again",
        "_pull_algorithm",
        "_pull_soon",
        "_pulling",
        "_queue",
        "_started",
        "_stream",
    )

    def __init__(self, stream: ReadableStream[Any], hwm: float) -> None:
        self._stream = stream
        self._hwm = hwm
        self._queue: deque[Any] = deque()
        self._started = False
        self._pulling = False
        self._pull_soon = False  # pulling only until the next loop pass (a sync pull)
        self._pull_again = False
        self._close_requested = False
        self._pull_algorithm: PullFn | None = None
        self._cancel_algorithm: CancelFn | None = None

    def _begin(self, start_result: Deferred[Any]) -> None:
        if start_result.done() and not start_result.is_rejected():
            # The standard marks even a synchronous start done in a microtask: until then
            # a read waits and nothing is pulled.  Here: on the next loop pass.
            try:
                loop = running_loop() or current()
            except RuntimeError:  # no loop: started now
                self._started = True
                return
            self._started = False
            loop.call_soon(self._start_done)
            return

        def started(d: Deferred[Any]) -> None:
            exc = d.exception()
            if exc is not None:
                self._error_if_readable(exc)
                return
            self._started = True
            self._call_pull_if_needed()

        start_result.add_done_callback(started)

    def _start_done(self) -> None:
        self._started = True
        self._call_pull_if_needed()

    def _error_if_readable(self, exc: BaseException) -> None:
        if self._stream._state == READABLE:
            self._error(exc)

    def _error(self, exc: BaseException) -> None:
        raise NotImplementedError

    def _should_call_pull(self) -> bool:
        raise NotImplementedError

    def _call_pull_if_needed(self) -> None:
        if self._pull_algorithm is None or not self._should_call_pull():
            return
        if self._pulling and not self._pull_now():
            self._pull_again = True
            return
        self._run_pull(self._pull_algorithm)

    def _pull_now(self) -> bool:
        """While a sync pull counts as running, pull again only for a starving reader."""
        if not self._pull_soon or self._queue:
            return False
        reader = self._stream._reader
        return reader is not None and bool(reader._requests)

    def _run_pull(self, pull: PullFn) -> None:
        """Call ``pull`` (not pulling yet, and the stream wants data).

        The standard settles even a synchronous pull in a microtask, so a burst of reads
        and enqueues calls ``pull`` once.  Python has no microtasks: a pull that returns
        at once counts as running until the next loop pass, except that a reader left
        waiting with nothing queued gets another pull at once (``_pull_now``).
        """
        self._pulling = True
        self._pull_again = False
        d = pull()
        if d is not None and d is not RESOLVED_NONE and d._state != _FULFILLED:
            self._pull_soon = False
            if d._state == _REJECTED:
                # The standard reacts to a failed pull in a microtask: a chunk taken just
                # before this pull (a read's after-read steps call it) reaches its reader
                # before the stream errors.  React on the next loop pass, still pulling.
                try:
                    (running_loop() or current()).call_soon(self._pull_done, d)
                    return
                except RuntimeError:  # no loop: react now
                    pass
            d.add_done_callback(self._pull_done)
            return
        if not self._pull_soon:
            try:
                (running_loop() or current()).call_soon(self._pull_settled)
            except RuntimeError:  # no loop: settle now
                self._pulling = False
                return
            self._pull_soon = True

    def _pull_settled(self) -> None:
        self._pull_soon = False
        self._pulling = False
        if self._pull_again:
            self._pull_again = False
            self._call_pull_if_needed()

    def _pull_done(self, d: Deferred[Any]) -> None:
        exc = d.exception()
        if exc is not None:
            self._error_if_readable(exc)
            return
        self._pulling = False
        if self._pull_again:
            self._pull_again = False
            self._call_pull_if_needed()

    def _clear_algorithms(self) -> None:
        self._pull_algorithm = None
        self._cancel_algorithm = None

    def _can_close_or_enqueue(self) -> bool:
        return not self._close_requested and self._stream._state == READABLE

    def _cancel_steps(self, reason: Any) -> Deferred[Any]:
        self._reset_queue()
        cancel = self._cancel_algorithm
        self._clear_algorithms()
        if cancel is None:
            return RESOLVED_NONE
        return cancel(reason) or RESOLVED_NONE

    def _reset_queue(self) -> None:
        self._queue.clear()


class ReadableStreamDefaultController(_ControllerBase):
    """Feeds a stream of arbitrary chunks; given to the source's ``start``/``pull``."""

    __slots__ = ("_size", "_sizes", "_total")

    # What a byte controller has and a default one never: read on the socket read path
    # without a getattr for either kind.
    _pending: ClassVar[tuple[()]] = ()
    _auto_allocate: ClassVar[None] = None

    def __init__(self, stream: ReadableStream[Any], hwm: float, size: SizeFn | None) -> None:
        super().__init__(stream, hwm)
        self._size = size
        self._sizes: deque[float] = deque()
        self._total = 0.0

    @property
    def desired_size(self) -> float | None:
        state = self._stream._state
        if state == READABLE:
            return self._hwm - (len(self._queue) if self._size is None else self._total)
        return None if state == ERRORED else 0

    def enqueue(self, chunk: Any = None) -> None:
        stream = self._stream
        if self._close_requested or stream._state != READABLE:
            raise TypeError("cannot enqueue: the stream is closed or closing")
        reader = stream._reader
        if reader is not None and reader._requests:
            reader._requests.popleft().resolve(read_result(chunk, False))
        elif self._size is None:
            self._queue.append(chunk)
        else:
            try:
                size = float(self._size(chunk))
                if not size >= 0 or size == float("inf"):
                    raise ValueError(f"the strategy's size must be finite and >= 0, got {size!r}")
            except Exception as exc:
                self._error_if_readable(exc)
                raise
            self._queue.append(chunk)
            self._sizes.append(size)
            self._total += size
        if self._pulling:
            self._pull_again = True  # checked again when the pull settles
        elif self._pull_algorithm is not None:
            self._call_pull_if_needed()

    def _call_pull_if_needed(self) -> None:
        # The hot path: _should_call_pull inlined, cheapest tests first.
        pull = self._pull_algorithm
        if pull is None or self._close_requested or not self._started:
            return
        stream = self._stream
        if stream._state != READABLE:
            return
        if self._hwm <= (len(self._queue) if self._size is None else self._total):
            reader = stream._reader
            if reader is None or not reader._requests:
                return
        if self._pulling and not self._pull_now():
            self._pull_again = True
            return
        self._run_pull(pull)

    def close(self) -> None:
        if not self._can_close_or_enqueue():
            raise TypeError("cannot close: the stream is closed or closing")
        self._close_requested = True
        if not self._queue:
            self._clear_algorithms()
            self._stream._close()

    def error(self, e: Any = None) -> None:
        self._error_if_readable(as_exception(e) if e is not None else _plain_error())

    def _error(self, exc: BaseException) -> None:
        self._reset_queue()
        self._clear_algorithms()
        self._stream._error(exc)

    def _reset_queue(self) -> None:
        self._queue.clear()
        self._sizes.clear()
        self._total = 0.0

    def _should_call_pull(self) -> bool:
        stream = self._stream
        if self._close_requested or stream._state != READABLE or not self._started:
            return False
        reader = stream._reader
        if reader is not None and reader._requests:
            return True
        return self._hwm - (len(self._queue) if self._size is None else self._total) > 0

    def _take(self) -> Any:
        """Dequeue the next chunk (the queue is not empty) and do the after-read steps."""
        queue = self._queue
        chunk = queue.popleft()
        if self._size is not None:
            self._total -= self._sizes.popleft()
            if not queue:
                self._total = 0.0
        if self._close_requested and not queue:
            self._clear_algorithms()
            self._stream._close()
        elif self._pulling:
            self._pull_again = True  # checked again when the pull settles
        elif self._pull_algorithm is not None:
            self._call_pull_if_needed()
        return chunk


def _stored(stream: ReadableStream[Any]) -> BaseException:
    exc = stream._stored_error
    assert exc is not None
    return exc


def _plain_error() -> Exception:
    return TypeError("the stream was errored")


class _PullInto:
    __slots__ = ("filled", "kind", "min_fill", "view")

    def __init__(self, view: memoryview, min_fill: int, kind: str) -> None:
        self.view = view
        self.filled = 0
        self.min_fill = min_fill
        self.kind = kind  # "byob" for a BYOB read, "default" for an auto-allocated one


class ReadableStreamBYOBRequest:
    """A reader's buffer waiting to be filled: write into ``view``, then ``respond(n)``."""

    __slots__ = ("_controller", "_view")

    def __init__(self, controller: ReadableByteStreamController, view: memoryview) -> None:
        self._controller: ReadableByteStreamController | None = controller
        self._view: memoryview | None = view

    @property
    def view(self) -> memoryview | None:
        return self._view

    def respond(self, bytes_written: int) -> None:
        if self._controller is None:
            raise TypeError("this BYOB request has already been responded to")
        if isinstance(bytes_written, bool) or not isinstance(bytes_written, int):
            raise TypeError(f"bytes_written must be an int, got {bytes_written!r}")
        self._controller._respond(bytes_written)

    def respond_with_new_view(self, view: Any) -> None:
        if self._controller is None:
            raise TypeError("this BYOB request has already been responded to")
        mv = memoryview(view).cast("B")
        controller = self._controller
        target = self._view
        if target is not None and len(mv) > len(target):
            raise ValueError(
                f"the new view ({len(mv)} bytes) is larger than the request ({len(target)})"
            )
        if target is not None and len(mv) and not _same_memory(mv, target):
            target[: len(mv)] = mv
        controller._respond(len(mv))

    def _invalidate(self) -> None:
        self._controller = None
        self._view = None


def _same_memory(a: memoryview, b: memoryview) -> bool:
    return a.obj is b.obj and len(a) <= len(b)


class ReadableByteStreamController(_ControllerBase):
    """Feeds a byte stream; fills BYOB readers' buffers directly."""

    __slots__ = ("_auto_allocate", "_byob_request", "_pending", "_total")

    def __init__(
        self, stream: ReadableStream[Any], hwm: float, auto_allocate: int | None = None
    ) -> None:
        super().__init__(stream, hwm)
        self._total = 0
        self._pending: deque[_PullInto] = deque()
        self._byob_request: ReadableStreamBYOBRequest | None = None
        self._auto_allocate = auto_allocate

    @property
    def desired_size(self) -> float | None:
        state = self._stream._state
        if state == ERRORED:
            return None
        if state == CLOSED:
            return 0
        return self._hwm - self._total

    @property
    def byob_request(self) -> ReadableStreamBYOBRequest | None:
        if self._byob_request is None and self._pending:
            desc = self._pending[0]
            self._byob_request = ReadableStreamBYOBRequest(self, desc.view[desc.filled :])
        return self._byob_request

    def enqueue(self, chunk: Any) -> None:
        data = to_bytes(chunk)
        if not data:
            raise TypeError("chunk must not be empty")
        if not self._can_close_or_enqueue():
            raise TypeError("cannot enqueue: the stream is closed or closing")
        if self._byob_request is not None:
            self._byob_request._invalidate()
            self._byob_request = None
        reader = self._stream._reader
        if (
            reader is not None
            and reader._requests
            and not self._pending
            and isinstance(reader, ReadableStreamDefaultReader)
        ):
            reader._requests.popleft().resolve(read_result(data, False))
            self._call_pull_if_needed()
            return
        self._queue.append(data)
        self._total += len(data)
        if self._pending:
            self._fill_pending_from_queue()
        self._call_pull_if_needed()

    def close(self) -> None:
        if not self._can_close_or_enqueue():
            raise TypeError("cannot close: the stream is closed or closing")
        if self._total > 0:
            self._close_requested = True
            return
        if (
            self._pending
            and self._pending[0].filled > 0
            and (self._pending[0].filled < self._pending[0].min_fill)
        ):
            exc = TypeError("the stream closed with a partially filled BYOB read")
            self._error(exc)
            raise exc
        self._close_requested = True
        self._clear_algorithms()
        self._stream._close()

    def error(self, e: Any = None) -> None:
        self._error_if_readable(as_exception(e) if e is not None else _plain_error())

    def _error(self, exc: BaseException) -> None:
        self._pending.clear()
        self._reset_queue()
        self._clear_algorithms()
        self._stream._error(exc)

    def _reset_queue(self) -> None:
        self._queue.clear()
        self._total = 0
        if self._byob_request is not None:
            self._byob_request._invalidate()
            self._byob_request = None

    def _cancel_steps(self, reason: Any) -> Deferred[Any]:
        self._pending.clear()
        return super()._cancel_steps(reason)

    def _should_call_pull(self) -> bool:
        stream = self._stream
        if self._close_requested or stream._state != READABLE or not self._started:
            return False
        reader = stream._reader
        if reader is not None and reader._requests:
            return True
        return self._hwm - self._total > 0

    # -- queue to buffers -----------------------------------------------------------
    def _fill(self, desc: _PullInto) -> None:
        """Copy queued bytes into ``desc`` as far as both allow."""
        view = desc.view
        queue = self._queue
        while queue and desc.filled < len(view):
            head = queue[0]
            n = min(len(head), len(view) - desc.filled)
            view[desc.filled : desc.filled + n] = head if n == len(head) else head[:n]
            if n == len(head):
                queue.popleft()
            else:
                queue[0] = head[n:]
            self._total -= n
            desc.filled += n

    def _fill_pending_from_queue(self) -> None:
        while self._pending and self._total > 0:
            desc = self._pending[0]
            self._fill(desc)
            if desc.filled < desc.min_fill:
                return
            self._pending.popleft()
            self._commit(desc, False)
        if self._close_requested and self._total == 0 and self._stream._state == READABLE:
            self._clear_algorithms()
            self._stream._close()

    def _commit(self, desc: _PullInto, done: bool) -> None:
        reader = self._stream._reader
        if reader is None or not reader._requests:
            return
        request = reader._requests.popleft()
        if desc.kind == "byob":
            request.resolve(read_result(desc.view[: desc.filled], done))
        elif done and desc.filled == 0:
            request.resolve(DONE)
        else:
            request.resolve(read_result(bytes(desc.view[: desc.filled]), False))

    def _respond(self, n: int) -> None:
        if not self._pending:
            raise TypeError("there is no pending BYOB request")
        desc = self._pending[0]
        closed = self._stream._state == CLOSED
        # Validate before voiding the request: a refused respond() leaves it usable.
        if closed and n != 0:
            raise TypeError(f"bytes_written must be 0 on a closed stream, got {n}")
        if not closed and n <= 0:
            raise TypeError(f"bytes_written must be positive on a readable stream, got {n}")
        if desc.filled + n > len(desc.view):
            raise ValueError(
                f"bytes_written {n} is more than the {len(desc.view) - desc.filled} bytes asked"
            )
        if self._byob_request is not None:
            self._byob_request._invalidate()
            self._byob_request = None
        if closed:
            waiting = bool(self._pending)
            while self._pending:
                self._commit(self._pending.popleft(), True)
            if waiting:  # a BYOB read waiting at the end sees it, as a default read does
                self._stream._end_observed()
            return
        desc.filled += n
        if desc.filled >= desc.min_fill:
            self._pending.popleft()
            self._commit(desc, False)
            if self._pending:
                self._fill_pending_from_queue()
        self._call_pull_if_needed()

    def _take(self) -> bytes:
        data: bytes = self._queue.popleft()
        self._total -= len(data)
        if self._close_requested and not self._queue:
            self._clear_algorithms()
            self._stream._close()
        elif self._pull_algorithm is not None:
            self._call_pull_if_needed()
        return data

    def _pull_into(self, view: memoryview, min_fill: int, request: Deferred[ReadResult]) -> None:
        stream = self._stream
        if stream._state == CLOSED:
            stream._end_observed()
            request.resolve(read_result(view[:0], True))
            return
        desc = _PullInto(view, min_fill, "byob")
        reader = stream._reader
        assert reader is not None
        if self._pending:
            self._pending.append(desc)
            reader._requests.append(request)
            return
        if self._total > 0:
            self._fill(desc)
            if desc.filled >= min_fill:
                if self._close_requested and self._total == 0:
                    self._clear_algorithms()
                    stream._close()
                else:
                    self._call_pull_if_needed()
                request.resolve(read_result(view[: desc.filled], False))
                return
        if self._close_requested:
            exc = TypeError("the stream is closing with too few bytes for this read")
            self._error(exc)
            request.reject(exc)
            return
        self._pending.append(desc)
        reader._requests.append(request)
        self._call_pull_if_needed()

    def _auto_pull(self, request: Deferred[ReadResult]) -> None:
        """A default read with an empty queue: offer a fresh buffer when auto-allocating."""
        reader = self._stream._reader
        assert reader is not None
        if self._auto_allocate:
            self._pending.append(
                _PullInto(memoryview(bytearray(self._auto_allocate)), 1, "default")
            )
        reader._requests.append(request)
        self._call_pull_if_needed()


AnyController = ReadableStreamDefaultController | ReadableByteStreamController


class _ReaderBase:
    __slots__ = ("_closed", "_requests", "_stream")

    def __init__(self, stream: ReadableStream[Any]) -> None:
        if not isinstance(stream, ReadableStream):
            raise TypeError(f"expected a ReadableStream, got {stream!r}")
        if stream._reader is not None:
            raise TypeError("the ReadableStream is locked to another reader")
        self._stream: ReadableStream[Any] | None = stream
        self._requests: deque[Deferred[ReadResult]] = deque()
        stream._reader = self  # type: ignore[assignment]
        if stream._state == READABLE:
            self._closed: Deferred[None] = Deferred()
        elif stream._state == CLOSED:
            self._closed = RESOLVED_NONE
        else:
            self._closed = Deferred.rejected(_stored(stream))

    @property
    def closed(self) -> Deferred[None]:
        return self._closed

    def cancel(self, reason: Any = None) -> Deferred[None]:
        if self._stream is None:
            return Deferred.rejected(TypeError("the reader has been released"))
        return self._stream._cancel(reason)

    def release_lock(self) -> None:
        stream = self._stream
        if stream is None:
            return
        exc = TypeError("the reader's lock was released")
        if stream._state == READABLE:
            self._closed.reject(exc)
        else:
            self._closed = Deferred.rejected(exc)
        controller = stream._controller
        if isinstance(controller, ReadableByteStreamController):
            controller._pending.clear()
            if controller._byob_request is not None:
                controller._byob_request._invalidate()
                controller._byob_request = None
        stream._reader = None
        self._stream = None
        requests, self._requests = self._requests, deque()
        for request in requests:
            request.reject(exc)

    async def __aenter__(self) -> _ReaderBase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release_lock()


class ReadableStreamDefaultReader(_ReaderBase):
    """Reads whole chunks; ``await reader.read()`` -> ``ReadResult(value, done)``."""

    __slots__ = ()

    def read(self) -> Deferred[ReadResult]:
        stream = self._stream
        if stream is None:
            return Deferred.rejected(TypeError("the reader has been released"))
        stream._disturbed = True
        state = stream._state
        if state == READABLE:
            controller = stream._controller
            if controller._queue:
                return Deferred.resolved(read_result(controller._take(), False))
            request: Deferred[ReadResult] = Deferred()
            request._on_abandon = lambda: self._withdraw(request)
            if isinstance(controller, ReadableByteStreamController):
                controller._auto_pull(request)
            else:
                self._requests.append(request)
                controller._call_pull_if_needed()
            return request
        if state == CLOSED:
            stream._end_observed()
            return _DONE_D
        return Deferred.rejected(_stored(stream))

    def _withdraw(self, request: Deferred[ReadResult]) -> None:
        """A read nobody waits for any more (its task was cancelled) gives up its place."""
        if request in self._requests:
            stream = self._stream
            controller = stream._controller if stream is not None else None
            if isinstance(controller, ReadableByteStreamController) and controller._pending:
                return  # a buffer was handed to the source for it: keep the order intact
            self._requests.remove(request)


class ReadableStreamBYOBReader(_ReaderBase):
    """Reads bytes straight into the caller's buffer (no intermediate copy)."""

    __slots__ = ()

    def __init__(self, stream: ReadableStream[Any]) -> None:
        if not isinstance(stream, ReadableStream):
            raise TypeError(f"expected a ReadableStream, got {stream!r}")
        if not isinstance(stream._controller, ReadableByteStreamController):
            raise TypeError("a BYOB reader needs a byte stream (source type 'bytes')")
        super().__init__(stream)

    def read(self, view: Any, *, min: int = 1) -> Deferred[ReadResult]:
        try:
            mv = memoryview(view)
        except TypeError:
            return Deferred.rejected(
                TypeError(f"view must be a writable bytes-like object, got {view!r}")
            )
        if mv.readonly:
            return Deferred.rejected(TypeError("view must be writable, got a read-only buffer"))
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        if len(mv) == 0:
            return Deferred.rejected(TypeError("view must not be empty"))
        if isinstance(min, bool) or not isinstance(min, int) or min < 1:
            return Deferred.rejected(TypeError(f"min must be a positive int, got {min!r}"))
        if min > len(mv):
            return Deferred.rejected(
                ValueError(f"min ({min}) must not exceed the view's length ({len(mv)})")
            )
        stream = self._stream
        if stream is None:
            return Deferred.rejected(TypeError("the reader has been released"))
        stream._disturbed = True
        if stream._state == ERRORED:
            return Deferred.rejected(_stored(stream))
        request: Deferred[ReadResult] = Deferred()
        controller = stream._controller
        assert isinstance(controller, ReadableByteStreamController)
        controller._pull_into(mv, min, request)
        return request


class ReadableStream(Generic[T]):
    """A source of chunks with backpressure: read with a reader, ``async for`` or a pipe."""

    __slots__ = ("__weakref__", "_controller", "_disturbed", "_reader", "_state", "_stored_error")

    _controller: AnyController

    def __init__(self, underlying_source: Any = None, strategy: Any = None) -> None:
        self._state = READABLE
        self._reader: ReadableStreamDefaultReader | ReadableStreamBYOBReader | None = None
        self._stored_error: BaseException | None = None
        self._disturbed = False
        source = underlying_source
        kind = get_member(source, "type")
        pull = get_member(source, "pull")
        cancel = get_member(source, "cancel")
        start = get_member(source, "start")
        for name, member in (("start", start), ("pull", pull), ("cancel", cancel)):
            if member is not None and not callable(member):
                raise TypeError(f"underlying_source.{name} must be callable, got {member!r}")
        controller: AnyController
        if kind is None:
            hwm, size = extract_strategy(strategy, 1)
            controller = ReadableStreamDefaultController(self, hwm, size)
        elif kind == "bytes":
            hwm, _ = extract_strategy(strategy, 0, bytes_stream=True)
            auto = get_member(source, "auto_allocate_chunk_size")
            if auto is not None and (
                isinstance(auto, bool) or not isinstance(auto, int) or auto <= 0
            ):
                raise TypeError(
                    f"underlying_source.auto_allocate_chunk_size must be a positive int, "
                    f"got {auto!r}"
                )
            controller = ReadableByteStreamController(self, hwm, auto)
        else:
            raise TypeError(f"underlying_source.type must be 'bytes' or None, got {kind!r}")
        self._controller = controller
        if pull is not None:
            controller._pull_algorithm = lambda: invoke(pull, controller)
        if cancel is not None:
            controller._cancel_algorithm = lambda reason: invoke(cancel, reason)
        controller._begin(invoke_start(start, controller))  # a sync raise propagates

    @classmethod
    def _create(
        cls,
        *,
        pull: PullFn | None = None,
        cancel: CancelFn | None = None,
        high_water_mark: float = 1,
        size: SizeFn | None = None,
        bytes_stream: bool = False,
    ) -> ReadableStream[Any]:
        """A stream driven by internal algorithms (sockets, tee, ``from_``), started at once."""
        self: ReadableStream[Any] = cls.__new__(cls)
        self._state = READABLE
        self._reader = None
        self._stored_error = None
        self._disturbed = False
        controller: AnyController
        if bytes_stream:
            controller = ReadableByteStreamController(self, high_water_mark)
        else:
            controller = ReadableStreamDefaultController(self, high_water_mark, size)
        controller._pull_algorithm = pull
        controller._cancel_algorithm = cancel
        controller._started = True
        self._controller = controller
        return self

    # -- public surface ---------------------------------------------------------------
    @property
    def locked(self) -> bool:
        return self._reader is not None

    def get_reader(
        self, mode: str | None = None
    ) -> ReadableStreamDefaultReader | ReadableStreamBYOBReader:
        """Lock the stream to a new reader (``mode="byob"`` for a BYOB reader)."""
        if mode is None:
            return ReadableStreamDefaultReader(self)
        if mode == "byob":
            return ReadableStreamBYOBReader(self)
        raise TypeError(f"mode must be None or 'byob', got {mode!r}")

    def cancel(self, reason: Any = None) -> Deferred[None]:
        """Give up on the stream: its queue is dropped and the source is told why."""
        if self._reader is not None:
            return Deferred.rejected(TypeError("cannot cancel a stream locked to a reader"))
        return self._cancel(reason)

    def pipe_to(
        self,
        destination: WritableStream[Any],
        *,
        prevent_close: bool = False,
        prevent_abort: bool = False,
        prevent_cancel: bool = False,
        signal: AbortSignal | None = None,
    ) -> Deferred[None]:
        """Pipe every chunk into ``destination``, propagating close, errors and aborts."""
        from .pipe import pipe_to

        return pipe_to(
            self,
            destination,
            prevent_close=prevent_close,
            prevent_abort=prevent_abort,
            prevent_cancel=prevent_cancel,
            signal=signal,
        )

    def pipe_through(
        self,
        transform: Any,
        *,
        prevent_close: bool = False,
        prevent_abort: bool = False,
        prevent_cancel: bool = False,
        signal: AbortSignal | None = None,
    ) -> ReadableStream[Any]:
        """Pipe into ``transform.writable`` and return ``transform.readable``."""
        from .writable import WritableStream

        writable = get_member(transform, "writable")
        readable = get_member(transform, "readable")
        if not isinstance(writable, WritableStream) or not isinstance(readable, ReadableStream):
            raise TypeError("pipe_through needs an object with .writable and .readable streams")
        if self.locked:
            raise TypeError("cannot pipe a locked ReadableStream")
        if writable.locked:
            raise TypeError("cannot pipe into a locked WritableStream")
        self.pipe_to(
            writable,
            prevent_close=prevent_close,
            prevent_abort=prevent_abort,
            prevent_cancel=prevent_cancel,
            signal=signal,
        )
        return readable

    def tee(self) -> tuple[ReadableStream[T], ReadableStream[T]]:
        """Two streams that each see every chunk of this one."""
        from .tee import tee

        return tee(self)

    @classmethod
    def from_(cls, source: Iterable[Any] | AsyncIterable[Any]) -> ReadableStream[Any]:
        """A stream over a sync or async iterable (or another ReadableStream)."""
        if isinstance(source, ReadableStream):
            return source
        from .tee import from_iterable

        return from_iterable(source)

    def _pipe_class(self, dest: Any) -> Any:
        """The pipe implementation for ``pipe_to(dest)`` (a hook for socket streams)."""
        from .pipe import _Pipe

        return _Pipe

    def _default_reader(self) -> ReadableStreamDefaultReader:
        """The reader ``async for`` uses (a hook for socket streams)."""
        return ReadableStreamDefaultReader(self)

    def values(self, *, prevent_cancel: bool = False) -> ReadableStreamAsyncIterator[T]:
        """Iterate the chunks; leaving the loop early cancels the stream unless told not to."""
        return ReadableStreamAsyncIterator(self, prevent_cancel)

    def __aiter__(self) -> ReadableStreamAsyncIterator[T]:
        return ReadableStreamAsyncIterator(self, False)

    # -- internal state changes -----------------------------------------------------
    def _close(self) -> None:
        self._state = CLOSED
        reader = self._reader
        if reader is None:
            return
        if isinstance(reader, ReadableStreamDefaultReader):
            requests, reader._requests = reader._requests, deque()
            for request in requests:
                request.resolve(DONE)
            if requests:
                self._end_observed()
        reader._closed.resolve(None)

    def _end_observed(self) -> None:
        """A consumer has seen the end of the stream (a hook for sockets' half-close)."""

    def _error(self, exc: BaseException) -> None:
        self._state = ERRORED
        self._stored_error = exc
        reader = self._reader
        if reader is None:
            return
        reader._closed.reject(exc)
        requests, reader._requests = reader._requests, deque()
        for request in requests:
            request.reject(exc)

    def _cancel(self, reason: Any) -> Deferred[None]:
        self._disturbed = True
        if self._state == CLOSED:
            return RESOLVED_NONE
        if self._state == ERRORED:
            assert self._stored_error is not None
            return Deferred.rejected(_stored(self))
        self._close()
        reader = self._reader
        if isinstance(reader, ReadableStreamBYOBReader):
            requests, reader._requests = reader._requests, deque()
            for request in requests:
                request.resolve(DONE)
        result: Deferred[None] = Deferred()
        source_done = self._controller._cancel_steps(reason)

        def settle(d: Deferred[Any]) -> None:
            exc = d.exception()
            if exc is not None:
                result.reject(exc)
            else:
                result.resolve(None)

        source_done.add_done_callback(settle)
        return result

    def __repr__(self) -> str:
        return f"<ReadableStream {self._state}{' locked' if self._reader else ''}>"


class ReadableStreamAsyncIterator(Generic[T]):
    """``async for chunk in stream``: the WHATWG async iterator, as an object.

    Not an async generator: one abandoned by ``break`` would be finalized by the runtime's
    async-generator hooks (a task on asyncio; trio also warns with a ``ResourceWarning``).
    This object ends the iteration itself, at once and on every runtime, when the loop
    leaves early: ``aclose()``, or when it is dropped (CPython drops it as the loop ends),
    cancels the stream unless ``prevent_cancel`` and releases the reader's lock.
    """

    __slots__ = ("__weakref__", "_controller", "_done", "_prevent_cancel", "_reader")

    def __init__(self, stream: ReadableStream[T], prevent_cancel: bool) -> None:
        self._done = True  # until the lock is taken (a locked stream raises TypeError)
        self._reader = stream._default_reader()
        self._controller = stream._controller
        self._prevent_cancel = prevent_cancel
        self._done = False

    def __aiter__(self) -> ReadableStreamAsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        controller = self._controller
        if controller._queue:  # a queued chunk implies a readable stream: no await needed
            return controller._take()  # type: ignore[return-value]
        try:
            result = await self._reader.read()
        except BaseException:
            self._finish(cancel=False)  # errored (or the task cancelled): no cancel
            raise
        if result[1]:
            self._finish(cancel=False)
            raise StopAsyncIteration
        return result[0]  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Leave early: cancel the stream (unless ``prevent_cancel``), release the lock."""
        self._finish(cancel=True)

    def _finish(self, *, cancel: bool) -> None:
        if self._done:
            return
        self._done = True
        reader = self._reader
        if cancel and not self._prevent_cancel and reader._stream is not None:
            reader.cancel(None)
        if reader._stream is not None:
            reader.release_lock()

    def __del__(self) -> None:
        if not self._done:
            with contextlib.suppress(Exception):  # never raise from a finalizer
                self._finish(cancel=True)
