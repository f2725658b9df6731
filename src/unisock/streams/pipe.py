"""``ReadableStream.pipe_to``: one task per pipe, never one per chunk.

The loop takes chunks the reader already has without awaiting and hands them to the
writer without awaiting each write; it only waits for the writer's ``ready`` under
backpressure and for the reader when the source is empty.  Closing, errors, aborts and
the signal are handled by callbacks on the two ends' ``closed`` results, as the standard's
"shutdown with an action" steps say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._base.deferred import RESOLVED_NONE, Deferred
from .._runtime import checkpoint, current, running_loop
from ..abort import AbortSignal, as_exception
from .readable import CLOSED, ERRORED, ReadableStream, ReadableStreamDefaultReader
from .writable import (
    CLOSED as W_CLOSED,
)
from .writable import (
    ERRORED as W_ERRORED,
)
from .writable import (
    ERRORING,
    WritableStream,
    WritableStreamDefaultWriter,
)

if TYPE_CHECKING:
    pass

_tasks: set[Any] = set()

_SPIN_LIMIT = 64  # chunks moved without yielding before giving the loop a turn


class _Pipe:
    def __init__(
        self,
        source: ReadableStream[Any],
        dest: WritableStream[Any],
        prevent_close: bool,
        prevent_abort: bool,
        prevent_cancel: bool,
        signal: AbortSignal | None,
    ) -> None:
        self.source = source
        self.dest = dest
        self.prevent_close = prevent_close
        self.prevent_abort = prevent_abort
        self.prevent_cancel = prevent_cancel
        self.signal = signal
        self.reader = ReadableStreamDefaultReader(source)
        self.writer: WritableStreamDefaultWriter[Any] = WritableStreamDefaultWriter(dest)
        dest._in_pipe = True
        source._disturbed = True
        self.result: Deferred[None] = Deferred()
        self.shutting_down = False
        self.last_write: Deferred[None] = RESOLVED_NONE
        self.remove_signal: Callable[[], None] | None = None
        # While the loop holds a chunk it has taken but not yet written, the source's
        # close (which fires synchronously inside the take) waits: the standard writes
        # that chunk first, because its read's chunk steps run before the closed reaction.
        self.holding = False
        self.close_held = False

    # -- start ------------------------------------------------------------------------
    def start(self) -> None:
        signal = self.signal
        if signal is not None:
            if signal.aborted:
                self._on_abort()
                return
            self.remove_signal = signal._add_algorithm(self._on_abort)
        # The standard checks these in order, each able to end the pipe at once.
        if self.source._state == ERRORED:
            self._source_errored(self.source._stored_error)
        elif self.dest._state in (ERRORING, W_ERRORED):
            self._dest_errored(self.dest._stored_error)
        elif self.source._state == CLOSED:
            self._source_closed()
        elif (
            self.dest._close_request is not None
            or self.dest._in_flight_close is not None
            or (self.dest._state == W_CLOSED)
        ):
            self._dest_closed()
        if self.shutting_down:
            return
        self.reader.closed.add_done_callback(self._on_reader_closed)
        self.writer.closed.add_done_callback(self._on_writer_closed)
        self._begin_transfer()

    def _begin_transfer(self) -> None:
        """Start moving chunks: one task per pipe (sockets override this with a push path)."""
        task = (running_loop() or current()).create_task(self._run())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    async def _run(self) -> None:
        reader = self.reader
        writer = self.writer
        controller = self.source._controller
        queue = controller._queue
        take = controller._take
        byob = getattr(controller, "_pending", None) is not None
        dest = self.dest
        dest_controller = dest._controller
        spins = 0
        try:
            while not self.shutting_down:
                if writer._stream is None:
                    return
                if dest._state == "writable":  # desired_size, inlined (hot path)
                    if dest_controller._hwm - dest_controller._total <= 0:
                        await writer.ready
                        continue
                elif writer.desired_size is None:
                    return
                self.holding = True
                if queue and not (byob and controller._pending):
                    chunk = take()
                    spins += 1
                else:
                    spins = 0
                    value, done = await reader.read()
                    if done or self.shutting_down:
                        return
                    chunk = value
                self.last_write = writer.write(chunk)
                self.holding = False
                if self.close_held:
                    return
                if spins >= _SPIN_LIMIT:
                    spins = 0
                    await checkpoint(running_loop() or current())
        except Exception:
            return  # the closed callbacks decide how the pipe ends
        finally:
            self.holding = False
            if self.close_held:
                self.close_held = False
                if not self.shutting_down:
                    self._source_closed()

    # -- reactions --------------------------------------------------------------------
    def _on_reader_closed(self, d: Deferred[None]) -> None:
        if self.shutting_down:
            return
        exc = d.exception()
        if exc is None:
            if self.holding:
                self.close_held = True
            else:
                self._source_closed()
        elif self.source._state == ERRORED:
            self._source_errored(exc)

    def _on_writer_closed(self, d: Deferred[None]) -> None:
        if self.shutting_down:
            return
        exc = d.exception()
        if exc is not None and self.dest._state in (ERRORING, W_ERRORED):
            self._dest_errored(exc)

    def _source_errored(self, exc: BaseException | None) -> None:
        assert exc is not None
        if not self.prevent_abort:
            self._shutdown_with_action(lambda: self.dest._abort_stream(exc), exc)
        else:
            self._shutdown(exc)

    def _dest_errored(self, exc: BaseException | None) -> None:
        assert exc is not None
        if not self.prevent_cancel:
            self._shutdown_with_action(lambda: self.source._cancel(exc), exc)
        else:
            self._shutdown(exc)

    def _source_closed(self) -> None:
        if not self.prevent_close:
            self._shutdown_with_action(self.writer._close_with_error_propagation, None)
        else:
            self._shutdown(None)

    def _dest_closed(self) -> None:
        exc = TypeError("the destination stream is closed")
        if not self.prevent_cancel:
            self._shutdown_with_action(lambda: self.source._cancel(exc), exc)
        else:
            self._shutdown(exc)

    def _on_abort(self) -> None:
        signal = self.signal
        assert signal is not None
        self._abort_with(signal.reason)

    def _abandoned(self) -> None:
        """The only task awaiting the pipe was cancelled: stop piping and release both
        streams, leaving them open (as cancelling an asyncio copy loop would): what was
        written is flushed first, nothing more is taken from the source."""
        if not self.shutting_down:
            from ..errors import AbortError

            self._shutdown(AbortError("the task awaiting pipe_to() was cancelled"))

    def _abort_with(self, reason: Any) -> None:
        exc = as_exception(reason)

        def actions() -> Deferred[Any]:
            steps: list[Deferred[Any]] = []
            if not self.prevent_abort and self.dest._state not in (W_CLOSED, W_ERRORED):
                steps.append(self.dest._abort_stream(reason))
            if not self.prevent_cancel and self.source._state not in (CLOSED, ERRORED):
                steps.append(self.source._cancel(reason))
            return _all(steps)

        self._shutdown_with_action(actions, exc)

    # -- shutdown ---------------------------------------------------------------------
    def _wait_for_writes(self, then: Callable[[], None]) -> None:
        dest = self.dest
        if (
            dest._state == "writable"
            and dest._close_request is None
            and (dest._in_flight_close is None)
        ):
            self.last_write.add_done_callback(lambda _: then())
        else:
            then()

    def _shutdown_with_action(
        self, action: Callable[[], Deferred[Any]], error: BaseException | None
    ) -> None:
        if self.shutting_down:
            return
        self.shutting_down = True

        def run_action() -> None:
            outcome = action()

            def done(d: Deferred[Any]) -> None:
                exc = d.exception()
                self._finalize(exc if exc is not None else error)

            outcome.add_done_callback(done)

        self._wait_for_writes(run_action)

    def _shutdown(self, error: BaseException | None) -> None:
        if self.shutting_down:
            return
        self.shutting_down = True
        self._wait_for_writes(lambda: self._finalize(error))

    def _finalize(self, error: BaseException | None) -> None:
        self.dest._in_pipe = False
        self.writer.release_lock()
        self.reader.release_lock()
        if self.remove_signal is not None:
            self.remove_signal()
        if error is not None:
            self.result.reject(error)
        else:
            self.result.resolve(None)


def _all(steps: list[Deferred[Any]]) -> Deferred[Any]:
    if not steps:
        return RESOLVED_NONE
    result: Deferred[None] = Deferred()
    remaining = [len(steps)]

    def one(d: Deferred[Any]) -> None:
        exc = d.exception()
        if exc is not None:
            result.reject(exc)
            return
        remaining[0] -= 1
        if remaining[0] == 0:
            result.resolve(None)

    for step in steps:
        step.add_done_callback(one)
    return result


def pipe_to(
    source: ReadableStream[Any],
    dest: WritableStream[Any],
    *,
    prevent_close: bool = False,
    prevent_abort: bool = False,
    prevent_cancel: bool = False,
    signal: AbortSignal | None = None,
) -> Deferred[None]:
    if not isinstance(source, ReadableStream):
        return Deferred.rejected(TypeError(f"pipe_to needs a ReadableStream, got {source!r}"))
    if not isinstance(dest, WritableStream):
        return Deferred.rejected(TypeError(f"pipe_to needs a WritableStream, got {dest!r}"))
    if signal is not None and not isinstance(signal, AbortSignal):
        return Deferred.rejected(TypeError(f"signal must be an AbortSignal, got {signal!r}"))
    if source.locked:
        return Deferred.rejected(TypeError("cannot pipe a locked ReadableStream"))
    if dest.locked:
        return Deferred.rejected(TypeError("cannot pipe into a locked WritableStream"))
    pipe_class = source._pipe_class(dest)
    pipe: _Pipe = pipe_class(
        source, dest, bool(prevent_close), bool(prevent_abort), bool(prevent_cancel), signal
    )
    pipe.start()
    result = pipe.result
    if not result.done():
        result._on_abandon = pipe._abandoned
    return result
