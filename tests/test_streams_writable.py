"""WritableStream and its writer: the behaviours of WPT streams/writable-streams."""

from __future__ import annotations

from typing import Any

import pytest
from tests import rt

from test_streams_support import both_loops, rejects, settle
from unisock._base.deferred import RESOLVED_NONE, Deferred
from unisock.errors import AbortError
from unisock.streams import (
    CountQueuingStrategy,
    WritableStream,
    WritableStreamDefaultController,
    WritableStreamDefaultWriter,
)


class Sink:
    """Records writes; a ``gated`` sink holds every write until ``release()``."""

    def __init__(self, *, gated: bool = False) -> None:
        self.written: list[Any] = []
        self.closed = 0
        self.aborted: list[Any] = []
        self.controller: WritableStreamDefaultController | None = None
        self.gate = rt.Event()
        if not gated:
            self.gate.set()

    def start(self, controller: WritableStreamDefaultController) -> None:
        self.controller = controller

    async def write(self, chunk: Any, controller: WritableStreamDefaultController) -> None:
        await self.gate.wait()
        self.written.append(chunk)

    def close(self) -> None:
        self.closed += 1

    def abort(self, reason: Any) -> None:
        self.aborted.append(reason)

    def release(self) -> None:
        self.gate.set()

    @property
    def c(self) -> WritableStreamDefaultController:
        assert self.controller is not None
        return self.controller


# -- construction and bad input ---------------------------------------------------------------


def test_constructor_accepts_nothing_a_dict_or_an_object() -> None:
    WritableStream()
    WritableStream({})
    WritableStream(Sink())


@pytest.mark.parametrize("member", ["start", "write", "close", "abort"])
def test_non_callable_sink_member_is_a_type_error_naming_it(member: str) -> None:
    with pytest.raises(TypeError, match=member):
        WritableStream({member: "nope"})


def test_sink_type_is_reserved() -> None:
    with pytest.raises(ValueError, match="type"):
        WritableStream({"type": "bytes"})


@pytest.mark.parametrize("hwm", [-1, float("nan")])
def test_bad_high_water_mark_is_a_value_error_naming_it(hwm: float) -> None:
    with pytest.raises(ValueError, match="high_water_mark"):
        WritableStream(None, {"high_water_mark": hwm})


def test_non_callable_strategy_size_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="size"):
        WritableStream(None, {"size": 3})


# -- locking -------------------------------------------------------------------------------------


def test_a_second_writer_is_a_type_error_until_released() -> None:
    stream: WritableStream[Any] = WritableStream()
    writer = stream.get_writer()
    assert stream.locked
    with pytest.raises(TypeError, match="locked"):
        stream.get_writer()
    with pytest.raises(TypeError):
        WritableStreamDefaultWriter(stream)
    writer.release_lock()
    assert not stream.locked
    stream.get_writer()


def test_writer_constructor_needs_a_writable_stream() -> None:
    with pytest.raises(TypeError):
        WritableStreamDefaultWriter(object())  # type: ignore[arg-type]


@both_loops
async def test_abort_and_close_on_a_locked_stream_reject_with_type_error() -> None:
    sink = Sink()
    stream: WritableStream[Any] = WritableStream(sink)
    stream.get_writer()
    await rejects(stream.abort(), TypeError)
    await rejects(stream.close(), TypeError)
    assert sink.aborted == [] and sink.closed == 0


@both_loops
async def test_a_released_writer_rejects_everything() -> None:
    stream: WritableStream[Any] = WritableStream()
    writer = stream.get_writer()
    writer.release_lock()
    await rejects(writer.write(1), TypeError)
    await rejects(writer.close(), TypeError)
    await rejects(writer.abort(), TypeError)
    await rejects(writer.closed, TypeError)
    await rejects(writer.ready, TypeError)
    with pytest.raises(TypeError):
        _ = writer.desired_size
    writer.release_lock()


@both_loops
async def test_writer_context_manager_releases() -> None:
    stream: WritableStream[Any] = WritableStream()
    async with stream.get_writer() as writer:
        await writer.write(1)
    assert not stream.locked


# -- writing ------------------------------------------------------------------------------------


@both_loops
async def test_writes_reach_the_sink_in_order_and_close_follows() -> None:
    sink = Sink()
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    results = [writer.write(i) for i in range(5)]
    close = writer.close()
    await close
    assert sink.written == [0, 1, 2, 3, 4]
    assert sink.closed == 1
    for r in results:
        await r
    await writer.closed
    assert writer.desired_size == 0


@both_loops
async def test_sync_sink_write_completes_without_a_future() -> None:
    written: list[Any] = []
    stream: WritableStream[Any] = WritableStream({"write": lambda chunk, c: written.append(chunk)})
    writer = stream.get_writer()
    await settle()  # start has settled
    d = writer.write(b"x")
    assert d.done() and written == [b"x"]


@both_loops
async def test_internal_create_fast_path_returns_the_shared_settled_result() -> None:
    written: list[Any] = []
    stream = WritableStream._create(write=lambda chunk: written.append(chunk))
    writer = stream.get_writer()
    assert writer.write(b"a") is RESOLVED_NONE
    assert written == [b"a"]


@both_loops
async def test_internal_create_with_a_pending_write_queues_the_next() -> None:
    pending: list[Deferred[None]] = []
    written: list[Any] = []

    def write(chunk: Any) -> Deferred[None]:
        written.append(chunk)
        d: Deferred[None] = Deferred()
        pending.append(d)
        return d

    stream = WritableStream._create(write=write, high_water_mark=2)
    writer = stream.get_writer()
    first = writer.write(1)
    second = writer.write(2)
    assert written == [1] and writer.desired_size == 0
    pending[0].resolve(None)
    assert first.done() and written == [1, 2]
    pending[1].resolve(None)
    assert second.done() and writer.desired_size == 2


@both_loops
async def test_writes_wait_for_start() -> None:
    gate = rt.Event()
    written: list[Any] = []

    async def start(controller: Any) -> None:
        await gate.wait()

    sink = {"start": start, "write": lambda chunk, c: written.append(chunk)}
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    result = writer.write("a")
    await settle()
    assert written == [] and not result.done()
    gate.set()
    await result
    assert written == ["a"]


@both_loops
async def test_start_rejection_errors_the_stream() -> None:
    async def start(controller: Any) -> None:
        raise ValueError("no start")

    stream: WritableStream[Any] = WritableStream({"start": start})
    writer = stream.get_writer()
    await rejects(writer.closed, ValueError)
    await rejects(writer.write(1), ValueError)


@both_loops
async def test_write_rejection_errors_the_stream() -> None:
    async def write(chunk: Any, controller: Any) -> None:
        raise OSError("disk full")

    stream: WritableStream[Any] = WritableStream({"write": write})
    writer = stream.get_writer()
    first = writer.write(1)
    second = writer.write(2)
    await rejects(first, OSError)
    await rejects(second, OSError)
    await rejects(writer.closed, OSError)
    await rejects(writer.ready, OSError)
    assert writer.desired_size is None
    await rejects(writer.write(3), OSError)


@both_loops
async def test_a_sync_write_that_raises_errors_the_stream() -> None:
    def write(chunk: Any, controller: Any) -> None:
        raise RuntimeError("bad chunk")

    stream: WritableStream[Any] = WritableStream({"write": write})
    writer = stream.get_writer()
    await settle()
    await rejects(writer.write(1), RuntimeError)
    await rejects(writer.closed, RuntimeError)


@both_loops
async def test_close_rejection_rejects_close_and_closed() -> None:
    async def close() -> None:
        raise OSError("close failed")

    stream: WritableStream[Any] = WritableStream({"close": close})
    writer = stream.get_writer()
    await rejects(writer.close(), OSError)
    await rejects(writer.closed, OSError)


@both_loops
async def test_write_after_close_is_a_type_error_and_close_twice_too() -> None:
    sink = Sink()
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    close = writer.close()
    await rejects(writer.write(1), TypeError)
    await rejects(writer.close(), TypeError)
    await close
    await rejects(writer.write(1), TypeError)
    await rejects(writer.close(), TypeError)
    writer.release_lock()
    await rejects(stream.close(), TypeError)


@both_loops
async def test_unlocked_close_and_abort() -> None:
    sink = Sink()
    stream: WritableStream[Any] = WritableStream(sink)
    await stream.close()
    assert sink.closed == 1
    await stream.abort("late")  # aborting a closed stream is a no-op
    assert sink.aborted == []
    sink2 = Sink()
    stream2: WritableStream[Any] = WritableStream(sink2)
    await stream2.abort("why")
    assert sink2.aborted == ["why"]


@both_loops
async def test_controller_error_errors_the_stream() -> None:
    sink = Sink()
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    sink.c.error(KeyError("k"))
    await rejects(writer.closed, KeyError)
    await rejects(writer.write(1), KeyError)
    sink.c.error(ValueError("ignored"))
    await rejects(writer.closed, KeyError)


@both_loops
async def test_strategy_size_raising_rejects_the_write_and_errors_the_stream() -> None:
    def size(chunk: Any) -> float:
        raise ZeroDivisionError

    stream: WritableStream[Any] = WritableStream(None, {"size": size})
    writer = stream.get_writer()
    await rejects(writer.write(1), ZeroDivisionError)
    await rejects(writer.closed, ZeroDivisionError)


# -- backpressure --------------------------------------------------------------------------------


@both_loops
async def test_ready_and_desired_size_follow_the_queue() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink, CountQueuingStrategy(2))
    writer = stream.get_writer()
    await settle()
    assert writer.desired_size == 2 and writer.ready.done()
    w1 = writer.write("a")
    assert writer.desired_size == 1 and writer.ready.done()
    w2 = writer.write("b")
    assert writer.desired_size == 0 and not writer.ready.done()
    w3 = writer.write("c")
    assert writer.desired_size == -1
    ready = writer.ready
    sink.release()
    await w3
    await ready
    await w1
    await w2
    assert writer.desired_size == 2
    assert sink.written == ["a", "b", "c"]


@both_loops
async def test_ready_is_awaited_by_many_tasks() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    writer.write(1)
    assert writer.desired_size == 0
    waiters = [rt.spawn(_await(writer.ready)) for _ in range(4)]
    await settle()
    assert not any(w.done() for w in waiters)
    sink.release()
    await rt.gather(*waiters)


async def _await(d: Deferred[None]) -> None:
    await d


@both_loops
async def test_byte_length_strategy_counts_bytes() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink, {"high_water_mark": 10, "size": len})
    writer = stream.get_writer()
    await settle()
    writer.write(b"12345678")
    assert writer.desired_size == 2
    writer.write(b"123")
    assert writer.desired_size == -1
    assert not writer.ready.done()
    sink.release()
    await writer.ready


@both_loops
async def test_close_resolves_a_pending_ready() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    writer.write(1)
    ready = writer.ready
    assert not ready.done()
    close = writer.close()
    await ready
    sink.release()
    await close


@both_loops
async def test_new_writer_on_a_stream_under_backpressure_has_a_pending_ready() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    writer.write(1)
    writer.release_lock()
    writer2 = stream.get_writer()
    assert not writer2.ready.done()
    sink.release()
    await writer2.ready


# -- abort ------------------------------------------------------------------------------------


@both_loops
async def test_abort_drops_queued_writes_and_tells_the_sink() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink, CountQueuingStrategy(10))
    writer = stream.get_writer()
    await settle()
    first = writer.write(1)
    queued = writer.write(2)
    abort = writer.abort("stop")
    assert writer.desired_size is None  # erroring
    await settle()
    assert not abort.done() and not queued.done()  # the in-flight write goes first
    sink.release()
    await first  # the in-flight write still completes
    await rejects(queued, AbortError)
    await abort
    assert sink.written == [1] and sink.aborted == ["stop"]
    exc = await rejects(writer.closed, AbortError)
    assert isinstance(exc, AbortError) and exc.reason == "stop"
    await rejects(writer.ready, AbortError)


@both_loops
async def test_abort_with_an_exception_reason_uses_it() -> None:
    stream: WritableStream[Any] = WritableStream()
    writer = stream.get_writer()
    boom = OSError("why")
    await writer.abort(boom)
    assert await rejects(writer.closed, OSError) is boom
    assert await rejects(writer.write(1), OSError) is boom


@both_loops
async def test_abort_signals_the_controller_signal() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    signal = sink.c.signal
    writer.write(1)
    abort = writer.abort("r")
    assert signal.aborted and signal.reason == "r"
    sink.release()
    await abort


@both_loops
async def test_sink_abort_rejection_rejects_abort() -> None:
    async def abort(reason: Any) -> None:
        raise ValueError("abort failed")

    stream: WritableStream[Any] = WritableStream({"abort": abort})
    writer = stream.get_writer()
    await rejects(writer.abort(), ValueError)
    await rejects(writer.closed, AbortError)


@both_loops
async def test_abort_twice_returns_the_same_pending_result() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    writer.write(1)
    a1 = writer.abort("one")
    a2 = writer.abort("two")
    assert a1 is a2
    sink.release()
    await a1
    assert sink.aborted == ["one"]


@both_loops
async def test_abort_during_close_waits_and_close_wins() -> None:
    gate = rt.Event()
    aborted: list[Any] = []

    async def close() -> None:
        await gate.wait()

    stream: WritableStream[Any] = WritableStream({"close": close, "abort": aborted.append})
    writer = stream.get_writer()
    await settle()
    closing = writer.close()
    await settle()
    abort = writer.abort("late")
    gate.set()
    await closing
    await abort
    await writer.closed  # the close completed, so the stream is closed, not errored
    assert aborted == []


@both_loops
async def test_abort_while_a_close_is_queued_rejects_the_close() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    writer.write(1)
    close = writer.close()
    abort = writer.abort("x")
    sink.release()
    await abort
    await rejects(close, AbortError)
    assert sink.closed == 0


@both_loops
async def test_releasing_the_writer_during_a_write_rejects_closed_with_type_error() -> None:
    sink = Sink(gated=True)
    stream: WritableStream[Any] = WritableStream(sink)
    writer = stream.get_writer()
    await settle()
    write = writer.write(1)
    writer.release_lock()
    await rejects(writer.closed, TypeError)
    sink.release()
    await write


@both_loops
async def test_writer_on_an_errored_stream() -> None:
    stream: WritableStream[Any] = WritableStream()
    await stream.abort(ValueError("gone"))
    writer = stream.get_writer()
    await rejects(writer.closed, ValueError)
    await rejects(writer.ready, ValueError)
    assert writer.desired_size is None


@both_loops
async def test_writer_on_a_closed_stream() -> None:
    stream: WritableStream[Any] = WritableStream()
    await stream.close()
    writer = stream.get_writer()
    await writer.closed
    await writer.ready
    assert writer.desired_size == 0
