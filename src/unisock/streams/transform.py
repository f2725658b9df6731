"""``TransformStream``: a writable side whose chunks, transformed, come out the readable side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._base.deferred import RESOLVED_NONE, Deferred
from ..abort import as_exception
from ._common import extract_strategy, get_member, invoke, invoke_start
from .readable import READABLE, ReadableStream, ReadableStreamDefaultController
from .writable import WRITABLE, WritableStream

__all__ = ["TransformStream", "TransformStreamDefaultController"]


class TransformStreamDefaultController:
    """Given to the transformer: ``enqueue`` output, ``error`` both sides, ``terminate``."""

    __slots__ = ("_stream",)

    def __init__(self, stream: TransformStream) -> None:
        self._stream = stream

    @property
    def desired_size(self) -> float | None:
        return self._stream._readable_controller.desired_size

    def enqueue(self, chunk: Any = None) -> None:
        stream = self._stream
        controller = stream._readable_controller
        if not controller._can_close_or_enqueue():
            raise TypeError("cannot enqueue: the readable side is closed or closing")
        try:
            controller.enqueue(chunk)
        except Exception as exc:
            stream._error_writable_and_unblock(exc)
            raise stream._readable._stored_error or exc from None
        if not stream._backpressure and not controller._should_call_pull():
            stream._set_backpressure(True)

    def error(self, reason: Any = None) -> None:
        self._stream._error(
            as_exception(reason)
            if reason is not None
            else TypeError("the transform errored the stream")
        )

    def terminate(self) -> None:
        stream = self._stream
        controller = stream._readable_controller
        if controller._can_close_or_enqueue():
            controller.close()
        stream._error_writable_and_unblock(TypeError("the TransformStream was terminated"))


class TransformStream:
    """A pair of streams joined by a ``transform(chunk, controller)`` function."""

    __slots__ = (
        "_backpressure",
        "_backpressure_change",
        "_controller",
        "_flush",
        "_readable",
        "_readable_controller",
        "_transform",
        "_writable",
    )

    def __init__(
        self,
        transformer: Any = None,
        writable_strategy: Any = None,
        readable_strategy: Any = None,
    ) -> None:
        if get_member(transformer, "readable_type") is not None:
            raise ValueError("transformer.readable_type is reserved")
        if get_member(transformer, "writable_type") is not None:
            raise ValueError("transformer.writable_type is reserved")
        w_hwm, w_size = extract_strategy(writable_strategy, 1)
        r_hwm, r_size = extract_strategy(readable_strategy, 0)
        self._controller = TransformStreamDefaultController(self)
        transform = get_member(transformer, "transform")
        flush = get_member(transformer, "flush")
        start = get_member(transformer, "start")
        for name, member in (("start", start), ("transform", transform), ("flush", flush)):
            if member is not None and not callable(member):
                raise TypeError(f"transformer.{name} must be callable, got {member!r}")
        controller = self._controller
        self._transform: Callable[[Any], Deferred[Any]]
        if transform is not None:
            self._transform = lambda chunk: invoke(transform, chunk, controller)
        else:
            self._transform = self._identity
        self._flush = (lambda: invoke(flush, controller)) if flush is not None else None
        self._backpressure = False
        self._backpressure_change: Deferred[None] = Deferred()
        self._writable: WritableStream[Any] = WritableStream._create(
            write=self._sink_write,
            close=self._sink_close,
            abort=self._sink_abort,
            high_water_mark=w_hwm,
            size=w_size,
        )
        self._readable: ReadableStream[Any] = ReadableStream._create(
            pull=self._source_pull,
            cancel=self._source_cancel,
            high_water_mark=r_hwm,
            size=r_size,
        )
        rc = self._readable._controller
        assert isinstance(rc, ReadableStreamDefaultController)
        self._readable_controller = rc
        self._set_backpressure(True)
        # Hold both sides until start() settles, as the standard does.
        self._writable._controller._started = False
        rc._started = False
        start_result = invoke_start(start, controller)  # a sync raise propagates

        def started(d: Deferred[Any]) -> None:
            exc = d.exception()
            self._writable._controller._started = True
            rc._started = True
            if exc is not None:
                self._error(exc)
                self._writable._deal_with_rejection(exc)
                return
            self._writable._controller._advance()
            rc._call_pull_if_needed()

        start_result.add_done_callback(started)

    @property
    def readable(self) -> ReadableStream[Any]:
        return self._readable

    @property
    def writable(self) -> WritableStream[Any]:
        return self._writable

    # -- internals --------------------------------------------------------------------
    def _identity(self, chunk: Any) -> Deferred[None]:
        try:
            self._controller.enqueue(chunk)
        except Exception as exc:
            return Deferred.rejected(exc)
        return RESOLVED_NONE

    def _set_backpressure(self, value: bool) -> Deferred[None]:
        """Flip backpressure; returns the new change result (settled by the next flip)."""
        # Swap before settling: settling runs reactions synchronously (a held write goes
        # on, enqueues and may flip backpressure again), which must see the new state; and
        # the caller gets *this* flip's result even if a reaction already settled it.
        old = self._backpressure_change
        change: Deferred[None] = Deferred()
        self._backpressure_change = change
        self._backpressure = value
        old.resolve(None)
        return change

    def _error(self, exc: BaseException) -> None:
        rc = self._readable_controller
        if self._readable._state == READABLE:
            rc._error(exc)
        self._error_writable_and_unblock(exc)

    def _error_writable_and_unblock(self, exc: BaseException) -> None:
        wc = self._writable._controller
        wc._clear_algorithms()
        if self._writable._state == WRITABLE:
            self._writable._start_erroring(exc)
        if self._backpressure:
            self._set_backpressure(False)

    def _perform_transform(self, chunk: Any) -> Deferred[Any]:
        result = self._transform(chunk)
        if result is RESOLVED_NONE:
            return result
        done: Deferred[None] = Deferred()

        def settled(d: Deferred[Any]) -> None:
            exc = d.exception()
            if exc is not None:
                self._error(exc)
                done.reject(exc)
            else:
                done.resolve(None)

        result.add_done_callback(settled)
        return done

    def _sink_write(self, chunk: Any) -> Deferred[Any]:
        if not self._backpressure:
            return self._perform_transform(chunk)
        done: Deferred[None] = Deferred()

        def unblocked(_: Deferred[None]) -> None:
            writable = self._writable
            if writable._state == "erroring":
                assert writable._stored_error is not None
                done.reject(writable._stored_error)
                return
            self._perform_transform(chunk).add_done_callback(
                lambda d: done.reject(exc) if (exc := d.exception()) else done.resolve(None)
            )

        self._backpressure_change.add_done_callback(unblocked)
        return done

    def _sink_close(self) -> Deferred[Any]:
        flushed = self._flush() if self._flush is not None else RESOLVED_NONE
        done: Deferred[None] = Deferred()

        def after(d: Deferred[Any]) -> None:
            exc = d.exception()
            if exc is not None:
                self._error(exc)
                done.reject(exc)
                return
            readable = self._readable
            if readable._state == "errored":
                assert readable._stored_error is not None
                done.reject(readable._stored_error)
                return
            rc = self._readable_controller
            if rc._can_close_or_enqueue():
                rc.close()
            done.resolve(None)

        flushed.add_done_callback(after)
        return done

    def _sink_abort(self, reason: Any) -> Deferred[Any]:
        exc = (
            as_exception(reason)
            if reason is not None
            else TypeError("the writable side was aborted")
        )
        if self._readable._state == READABLE:
            self._readable_controller._error(exc)
        if self._backpressure:
            self._set_backpressure(False)
        return RESOLVED_NONE

    def _source_pull(self) -> Deferred[Any]:
        return self._set_backpressure(False)

    def _source_cancel(self, reason: Any) -> Deferred[Any]:
        exc = (
            as_exception(reason)
            if reason is not None
            else TypeError("the readable side was cancelled")
        )
        self._error_writable_and_unblock(exc)
        return RESOLVED_NONE
