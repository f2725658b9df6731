"""pipe_to / pipe_through: the behaviours of WPT streams/piping, and real backpressure."""

from __future__ import annotations

from typing import Any

import pytest
from tests import rt

from test_streams_support import Source, both_loops, default_reader, read_all, rejects, settle
from unisock.abort import AbortController, AbortSignal
from unisock.errors import AbortError
from unisock.streams import (
    CountQueuingStrategy,
    ReadableStream,
    ReadableStreamDefaultController,
    TransformStream,
    WritableStream,
    WritableStreamDefaultController,
)


class Sink:
    def __init__(self, *, slow: bool = False) -> None:
        self.written: list[Any] = []
        self.closed = 0
        self.aborted: list[Any] = []
        self.slow = slow
        self.controller: WritableStreamDefaultController | None = None

    def start(self, controller: WritableStreamDefaultController) -> None:
        self.controller = controller

    async def write(self, chunk: Any, controller: Any) -> None:
        if self.slow:
            await rt.sleep(0)
        self.written.append(chunk)

    def close(self) -> None:
        self.closed += 1

    def abort(self, reason: Any) -> None:
        self.aborted.append(reason)


# -- bad input ---------------------------------------------------------------------------


@both_loops
async def test_pipe_into_a_locked_writable_rejects_with_type_error() -> None:
    source = ReadableStream.from_([1])
    dest: WritableStream[Any] = WritableStream()
    dest.get_writer()
    exc = await rejects(source.pipe_to(dest), TypeError)
    assert "locked" in str(exc)
    assert not source.locked  # nothing was taken


@both_loops
async def test_pipe_from_a_locked_readable_rejects_with_type_error() -> None:
    source = ReadableStream.from_([1])
    default_reader(source)
    await rejects(source.pipe_to(WritableStream()), TypeError)


@both_loops
async def test_pipe_to_a_non_stream_or_bad_signal_rejects_with_type_error() -> None:
    source = ReadableStream.from_([1])
    await rejects(source.pipe_to(object()), TypeError)  # type: ignore[arg-type]
    exc = await rejects(source.pipe_to(WritableStream(), signal="x"), TypeError)  # type: ignore[arg-type]
    assert "signal" in str(exc)


def test_pipe_through_checks_locks_and_shape_at_once() -> None:
    with pytest.raises(TypeError):
        ReadableStream.from_([1]).pipe_through(object())
    locked = ReadableStream.from_([1])
    default_reader(locked)
    with pytest.raises(TypeError, match="locked"):
        locked.pipe_through(TransformStream())
    ts = TransformStream()
    ts.writable.get_writer()
    with pytest.raises(TypeError, match="locked"):
        ReadableStream.from_([1]).pipe_through(ts)


# -- normal flow --------------------------------------------------------------------------


@both_loops
async def test_pipe_moves_every_chunk_then_closes_and_unlocks() -> None:
    sink = Sink()
    dest: WritableStream[Any] = WritableStream(sink)
    source = ReadableStream.from_(range(100))
    pipe = source.pipe_to(dest)
    assert source.locked and dest.locked
    await pipe
    assert sink.written == list(range(100)) and sink.closed == 1
    assert not source.locked and not dest.locked


@both_loops
async def test_pipe_with_a_slow_sink_keeps_order() -> None:
    sink = Sink(slow=True)
    await ReadableStream.from_(range(50)).pipe_to(WritableStream(sink))
    assert sink.written == list(range(50))


@both_loops
async def test_chunks_enqueued_with_close_all_arrive() -> None:
    for n in (1, 2, 65, 130):
        source = Source()
        stream: ReadableStream[Any] = ReadableStream(source)
        sink = Sink()
        pipe = stream.pipe_to(WritableStream(sink))
        await settle()
        for i in range(n):
            source.c.enqueue(i)
        source.c.close()
        await pipe
        assert sink.written == list(range(n)), n


@both_loops
async def test_pipe_through_a_chain() -> None:
    def double(chunk: int, c: Any) -> None:
        c.enqueue(chunk * 2)

    out = (
        ReadableStream.from_(range(10))
        .pipe_through(TransformStream({"transform": double}))
        .pipe_through(TransformStream())
    )
    assert await read_all(out) == [i * 2 for i in range(10)]


@both_loops
async def test_prevent_close_leaves_the_destination_open() -> None:
    sink = Sink()
    dest: WritableStream[Any] = WritableStream(sink)
    await ReadableStream.from_([1, 2]).pipe_to(dest, prevent_close=True)
    assert sink.closed == 0
    writer = dest.get_writer()
    await writer.write(3)
    assert sink.written == [1, 2, 3]


@both_loops
async def test_pipe_from_an_already_closed_source_closes_the_destination() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.close()
    sink = Sink()
    await stream.pipe_to(WritableStream(sink))
    assert sink.closed == 1


# -- errors in either direction --------------------------------------------------------------


@both_loops
async def test_source_error_aborts_the_destination() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    sink = Sink()
    pipe = stream.pipe_to(WritableStream(sink))
    source.c.enqueue(1)
    await settle()
    boom = ValueError("source broke")
    source.c.error(boom)
    assert await rejects(pipe, ValueError) is boom
    assert sink.aborted == [boom] and sink.written == [1]


@both_loops
async def test_prevent_abort_keeps_the_destination_writable() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    sink = Sink()
    dest: WritableStream[Any] = WritableStream(sink)
    pipe = stream.pipe_to(dest, prevent_abort=True)
    source.c.error(ValueError("x"))
    await rejects(pipe, ValueError)
    assert sink.aborted == []
    await dest.get_writer().write("still")
    assert sink.written == ["still"]


@both_loops
async def test_source_errored_before_the_pipe_aborts_the_destination() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.error(KeyError("k"))
    sink = Sink()
    await rejects(stream.pipe_to(WritableStream(sink)), KeyError)
    assert len(sink.aborted) == 1


@both_loops
async def test_destination_error_cancels_the_source() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)

    async def write(chunk: Any, c: Any) -> None:
        raise OSError("sink broke")

    pipe = stream.pipe_to(WritableStream({"write": write}))
    source.c.enqueue(1)
    exc = await rejects(pipe, OSError)
    assert source.cancelled == [exc]


@both_loops
async def test_prevent_cancel_keeps_the_source_readable() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)

    async def write(chunk: Any, c: Any) -> None:
        raise OSError("sink broke")

    pipe = stream.pipe_to(WritableStream({"write": write}), prevent_cancel=True)
    source.c.enqueue(1)
    source.c.enqueue(2)
    await rejects(pipe, OSError)
    assert source.cancelled == []
    assert (await default_reader(stream).read()).value == 2


@both_loops
async def test_destination_closed_before_the_pipe_cancels_the_source() -> None:
    dest: WritableStream[Any] = WritableStream()
    await dest.close()
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    await rejects(stream.pipe_to(dest), TypeError)
    assert len(source.cancelled) == 1


@both_loops
async def test_destination_errored_before_the_pipe_cancels_the_source() -> None:
    dest: WritableStream[Any] = WritableStream()
    await dest.abort(ValueError("gone"))
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    await rejects(stream.pipe_to(dest), ValueError)
    assert len(source.cancelled) == 1


@both_loops
async def test_cancel_failure_becomes_the_pipe_error() -> None:
    async def cancel(reason: Any) -> None:
        raise RuntimeError("cancel failed")

    stream: ReadableStream[Any] = ReadableStream({"cancel": cancel})
    dest: WritableStream[Any] = WritableStream()
    await dest.abort(ValueError("gone"))
    await rejects(stream.pipe_to(dest), RuntimeError)


# -- signal ---------------------------------------------------------------------------------


@both_loops
async def test_an_aborted_signal_aborts_and_cancels_at_once() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    sink = Sink()
    dest: WritableStream[Any] = WritableStream(sink)
    exc = await rejects(stream.pipe_to(dest, signal=AbortSignal.abort("stop")), AbortError)
    assert isinstance(exc, AbortError) and exc.reason == "stop"
    assert sink.aborted == ["stop"] and source.cancelled == ["stop"]
    assert not stream.locked and not dest.locked


@both_loops
async def test_abort_mid_pipe_stops_it() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    sink = Sink()
    controller = AbortController()
    pipe = stream.pipe_to(WritableStream(sink), signal=controller.signal)
    source.c.enqueue(1)
    await settle()
    reason = KeyError("user")
    controller.abort(reason)
    assert await rejects(pipe, KeyError) is reason
    assert sink.written == [1] and sink.aborted == [reason] and source.cancelled == [reason]


@both_loops
async def test_signal_with_prevent_abort_and_prevent_cancel_only_stops_the_pipe() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    sink = Sink()
    dest: WritableStream[Any] = WritableStream(sink)
    controller = AbortController()
    pipe = stream.pipe_to(dest, signal=controller.signal, prevent_abort=True, prevent_cancel=True)
    controller.abort()
    await rejects(pipe, AbortError)
    assert sink.aborted == [] and source.cancelled == []
    assert not stream.locked and not dest.locked
    source.c.enqueue(5)
    assert (await default_reader(stream).read()).value == 5


@both_loops
async def test_abort_after_the_pipe_finished_changes_nothing() -> None:
    controller = AbortController()
    sink = Sink()
    await ReadableStream.from_([1]).pipe_to(WritableStream(sink), signal=controller.signal)
    controller.abort()
    assert sink.aborted == [] and sink.closed == 1


@both_loops
async def test_timeout_signal_ends_a_stalled_pipe() -> None:
    stream: ReadableStream[Any] = ReadableStream()
    pipe = stream.pipe_to(WritableStream(), signal=AbortSignal.timeout(0.01))
    await rejects(pipe, TimeoutError)


# -- backpressure: memory held stays within the marks ---------------------------------------


@both_loops
async def test_fast_producer_into_slow_consumer_holds_no_more_than_the_marks() -> None:
    """Measure the queues on every write: source queue <= its mark, sink queue <= its mark."""
    source_hwm, sink_hwm = 4, 3
    produced = 0
    total = 300
    peaks = {"source": 0, "sink": 0}
    stream: ReadableStream[Any]

    def pull(controller: ReadableStreamDefaultController) -> None:
        nonlocal produced
        while produced < total and (controller.desired_size or 0) > 0:
            controller.enqueue(produced)  # a fast producer: fills as far as it may
            produced += 1
        if produced == total:
            controller.close()

    dest: WritableStream[Any]

    async def write(chunk: Any, c: Any) -> None:
        peaks["source"] = max(peaks["source"], len(stream._controller._queue))
        peaks["sink"] = max(peaks["sink"], len(dest._controller._queue))
        await rt.sleep(0)  # a slow consumer
        written.append(chunk)

    written: list[Any] = []
    stream = ReadableStream({"pull": pull}, CountQueuingStrategy(source_hwm))
    dest = WritableStream({"write": write}, CountQueuingStrategy(sink_hwm))
    await stream.pipe_to(dest)
    assert written == list(range(total))
    assert 0 < peaks["source"] <= source_hwm
    assert 0 < peaks["sink"] <= sink_hwm


@both_loops
async def test_a_push_producer_that_ignores_desired_size_is_still_not_read_ahead() -> None:
    """The pipe takes a chunk only when the sink has room: the rest stays in the source."""
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source, CountQueuingStrategy(2))
    gate = rt.Event()

    async def write(chunk: Any, c: Any) -> None:
        await gate.wait()

    dest: WritableStream[Any] = WritableStream({"write": write}, CountQueuingStrategy(2))
    pipe = stream.pipe_to(dest)
    for i in range(100):
        source.c.enqueue(i)
    await settle()
    # one in flight plus the sink's mark; everything else still in the source's queue
    assert len(dest._controller._queue) <= 3
    assert len(stream._controller._queue) >= 100 - 3
    assert source.c.desired_size is not None and source.c.desired_size < 0
    gate.set()
    source.c.close()
    await pipe


@both_loops
async def test_pipe_through_transform_holds_within_the_marks() -> None:
    seen_depths: list[int] = []
    ts = TransformStream(None, CountQueuingStrategy(2), CountQueuingStrategy(2))

    async def write(chunk: Any, c: Any) -> None:
        held = len(ts.writable._controller._queue) + len(ts.readable._controller._queue)
        seen_depths.append(held)
        await rt.sleep(0)

    produced = 0

    def pull(controller: ReadableStreamDefaultController) -> None:
        nonlocal produced
        controller.enqueue(produced)
        produced += 1
        if produced == 200:
            controller.close()

    src: ReadableStream[Any] = ReadableStream({"pull": pull}, CountQueuingStrategy(2))
    await src.pipe_through(ts).pipe_to(WritableStream({"write": write}, CountQueuingStrategy(1)))
    assert produced == 200
    assert max(seen_depths) <= 2 + 2 + 1  # the two marks plus one chunk in the transform
