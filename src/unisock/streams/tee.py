"""``tee()`` and ``ReadableStream.from_``: streams built from other sources."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from .._base.deferred import RESOLVED_NONE, Deferred
from ._common import invoke
from .readable import (
    READABLE,
    ReadableByteStreamController,
    ReadableStream,
    ReadableStreamDefaultReader,
)


def tee(stream: ReadableStream[Any]) -> tuple[ReadableStream[Any], ReadableStream[Any]]:
    """ReadableStreamDefaultTee (a byte stream's branches are byte streams).

    As in the standard, a default stream's branches have a high-water mark of 1 and start
    (pull) at once, so ``tee()`` reads one chunk ahead and keeps refilling the emptiest
    branch; a byte stream's branches have a high-water mark of 0 (ReadableByteStreamTee).
    One read of the source is in flight at a time; a pull meanwhile asks for another read
    once it completes (``reading``/``again``, the standard's reading/readAgain).
    """
    reader = ReadableStreamDefaultReader(stream)
    bytes_stream = isinstance(stream._controller, ReadableByteStreamController)
    state: dict[str, Any] = {"reading": False, "again": False}
    canceled = [False, False]
    reasons: list[Any] = [None, None]
    cancel_done: Deferred[None] = Deferred()
    branches: list[ReadableStream[Any]] = []

    def live(i: int) -> bool:
        return not canceled[i] and branches[i]._state == READABLE

    def pull() -> Deferred[Any]:
        if state["reading"]:
            state["again"] = True
            return RESOLVED_NONE
        state["reading"] = True
        reader.read().add_done_callback(on_read)
        return RESOLVED_NONE

    def on_read(d: Deferred[Any]) -> None:
        if d.is_rejected():  # error steps; the branches error through reader.closed
            state["reading"] = False
            return
        value, done = d.result()
        if done:  # close steps
            state["reading"] = False
            for i in (0, 1):
                if live(i) and not branches[i]._controller._close_requested:
                    branches[i]._controller.close()
            if not (canceled[0] and canceled[1]):
                cancel_done.resolve(None)
            return
        # chunk steps: an enqueue below may pull again (a branch wants more); it only
        # sets "again" while this read counts as in flight, and the read follows here.
        state["again"] = False
        for i in (0, 1):
            if live(i):
                branches[i]._controller.enqueue(value)
        state["reading"] = False
        if state["again"]:
            pull()

    def make_cancel(i: int) -> Any:
        def cancel(reason: Any) -> Deferred[None]:
            canceled[i] = True
            reasons[i] = reason
            if canceled[0] and canceled[1]:
                stream._cancel(list(reasons)).add_done_callback(
                    lambda d: (
                        cancel_done.reject(exc)
                        if (exc := d.exception()) is not None
                        else cancel_done.resolve(None)
                    )
                )
            return cancel_done

        return cancel

    hwm = 0 if bytes_stream else 1
    for i in (0, 1):
        branches.append(
            ReadableStream._create(
                pull=pull, cancel=make_cancel(i), high_water_mark=hwm, bytes_stream=bytes_stream
            )
        )

    def on_closed(d: Deferred[Any]) -> None:
        exc = d.exception()
        if exc is None or stream._state != "errored":
            return
        for branch in branches:
            if branch._state == READABLE:
                branch._controller._error(exc)
        if not (canceled[0] and canceled[1]):
            cancel_done.resolve(None)

    reader.closed.add_done_callback(on_closed)
    for branch in branches:  # the branches' start: they pull on the next loop pass
        branch._controller._begin(RESOLVED_NONE)
    return branches[0], branches[1]


def from_iterable(source: Iterable[Any] | AsyncIterable[Any]) -> ReadableStream[Any]:
    if hasattr(source, "__aiter__"):
        iterator: Any = source.__aiter__()

        def pull_async() -> Deferred[Any]:
            step: Deferred[Any] = Deferred()
            done: Deferred[None] = Deferred()

            def got(d: Deferred[Any]) -> None:
                exc = d.exception()
                if isinstance(exc, StopAsyncIteration):
                    controller.close()
                    done.resolve(None)
                elif exc is not None:
                    done.reject(exc)
                else:
                    controller.enqueue(d.result())
                    done.resolve(None)

            from .._base.deferred import settle_from

            settle_from(step, iterator.__anext__())
            step.add_done_callback(got)
            return done

        def cancel_async(reason: Any) -> Deferred[Any]:
            return invoke(getattr(iterator, "aclose", None))

        stream = ReadableStream._create(pull=pull_async, cancel=cancel_async, high_water_mark=0)
    else:
        try:
            sync_iterator = iter(source)
        except TypeError:
            raise TypeError(
                f"ReadableStream.from_ needs an iterable or async iterable, got {source!r}"
            ) from None

        def pull_sync() -> Deferred[Any]:
            try:
                chunk = next(sync_iterator)
            except StopIteration:
                controller.close()
                return RESOLVED_NONE
            except Exception as exc:
                return Deferred.rejected(exc)
            controller.enqueue(chunk)
            return RESOLVED_NONE

        def cancel_sync(reason: Any) -> Deferred[Any]:
            return invoke(getattr(sync_iterator, "close", None))

        stream = ReadableStream._create(pull=pull_sync, cancel=cancel_sync, high_water_mark=0)
    controller = stream._controller
    return stream
