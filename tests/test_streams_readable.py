"""ReadableStream with a default controller: the behaviours of WPT streams/readable-streams.

Python has no microtasks, so where WPT checks the order of promise reactions these tests
check the end state once the loop has turned.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from tests import rt
from tests.conftest import background

from test_streams_support import both_loops, default_reader, read_all, rejects, settle
from unisock.errors import AbortError
from unisock.streams import (
    CountQueuingStrategy,
    ReadableStream,
    ReadableStreamDefaultController,
    ReadableStreamDefaultReader,
    ReadResult,
)


class Source:
    """An underlying source that keeps its controller and records pulls and cancels."""

    def __init__(self, *, pull_enqueues: bool = False) -> None:
        self.controller: ReadableStreamDefaultController | None = None
        self.pulls = 0
        self.cancelled: list[Any] = []
        self.pull_enqueues = pull_enqueues

    def start(self, controller: ReadableStreamDefaultController) -> None:
        self.controller = controller

    def pull(self, controller: ReadableStreamDefaultController) -> None:
        self.pulls += 1
        if self.pull_enqueues:
            controller.enqueue(self.pulls)

    def cancel(self, reason: Any) -> None:
        self.cancelled.append(reason)

    @property
    def c(self) -> ReadableStreamDefaultController:
        assert self.controller is not None
        return self.controller


# -- construction and bad input ---------------------------------------------------------


def test_constructor_accepts_nothing_a_dict_or_an_object() -> None:
    ReadableStream()
    ReadableStream({})
    ReadableStream(Source())


@pytest.mark.parametrize("member", ["start", "pull", "cancel"])
def test_non_callable_source_member_is_a_type_error_naming_it(member: str) -> None:
    with pytest.raises(TypeError, match=member):
        ReadableStream({member: 42})


def test_unknown_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="type"):
        ReadableStream({"type": "potato"})


def test_start_throwing_propagates_from_the_constructor() -> None:
    def start(controller: Any) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        ReadableStream({"start": start})


@pytest.mark.parametrize("mode", ["BYOB", "default", "", 1])
def test_get_reader_with_a_bad_mode_is_a_type_error_naming_mode(mode: Any) -> None:
    with pytest.raises(TypeError, match="mode"):
        ReadableStream().get_reader(mode=mode)


def test_byob_reader_on_a_default_stream_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="byte"):
        ReadableStream().get_reader(mode="byob")


# -- locking -----------------------------------------------------------------------------


def test_a_second_reader_is_a_type_error_until_the_lock_is_released() -> None:
    stream: ReadableStream[Any] = ReadableStream()
    reader = default_reader(stream)
    assert stream.locked
    with pytest.raises(TypeError, match="locked"):
        stream.get_reader()
    with pytest.raises(TypeError, match="locked"):
        ReadableStreamDefaultReader(stream)
    reader.release_lock()
    assert not stream.locked
    default_reader(stream).release_lock()
    reader.release_lock()  # a second release is a no-op


def test_reader_constructor_needs_a_stream() -> None:
    with pytest.raises(TypeError):
        ReadableStreamDefaultReader(object())  # type: ignore[arg-type]


@both_loops
async def test_cancel_on_a_locked_stream_rejects_with_type_error() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    default_reader(stream)
    await rejects(stream.cancel(), TypeError)
    assert source.cancelled == []


@both_loops
async def test_released_reader_rejects_reads_and_its_closed() -> None:
    stream: ReadableStream[Any] = ReadableStream()
    reader = default_reader(stream)
    pending = reader.read()
    reader.release_lock()
    await rejects(pending, TypeError)
    await rejects(reader.closed, TypeError)
    await rejects(reader.read(), TypeError)
    await rejects(reader.cancel(), TypeError)


@both_loops
async def test_releasing_after_close_gives_a_new_rejected_closed() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    reader = default_reader(stream)
    source.c.close()
    await reader.closed
    reader.release_lock()
    await rejects(reader.closed, TypeError)


@both_loops
async def test_reader_context_manager_releases_the_lock() -> None:
    stream: ReadableStream[Any] = ReadableStream()
    async with default_reader(stream):
        assert stream.locked
    assert not stream.locked


# -- reading -----------------------------------------------------------------------------


@both_loops
async def test_enqueued_chunks_are_read_in_order_then_done() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue("a")
    source.c.enqueue("b")
    source.c.close()
    reader = default_reader(stream)
    assert await reader.read() == ReadResult("a", False)
    assert await reader.read() == ReadResult("b", False)
    result = await reader.read()
    assert result.done and result.value is None
    assert (await reader.read()).done  # reading a closed stream stays done
    await reader.closed


@both_loops
async def test_a_queued_chunk_is_returned_already_settled() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    d = default_reader(stream).read()
    assert d.done() and d.result() == (1, False)


@both_loops
async def test_pending_reads_are_fulfilled_by_later_enqueues_in_order() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    reader = default_reader(stream)
    reads = [reader.read() for _ in range(3)]
    assert not any(r.done() for r in reads)
    for i in range(3):
        source.c.enqueue(i)
    assert [(await r).value for r in reads] == [0, 1, 2]


@both_loops
async def test_close_fulfils_pending_reads_with_done() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    reader = default_reader(stream)
    reads = [reader.read(), reader.read()]
    source.c.close()
    assert [(await r).done for r in reads] == [True, True]
    await reader.closed


@both_loops
async def test_close_waits_for_the_queue_to_drain() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue("x")
    source.c.close()
    assert repr(stream) == "<ReadableStream readable>"
    with pytest.raises(TypeError, match="clos"):
        source.c.enqueue("y")
    with pytest.raises(TypeError, match="clos"):
        source.c.close()
    reader = default_reader(stream)
    assert (await reader.read()).value == "x"
    assert repr(stream).startswith("<ReadableStream closed")
    await reader.closed


@both_loops
async def test_error_rejects_pending_reads_closed_and_later_reads() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    reader = default_reader(stream)
    pending = reader.read()
    boom = ValueError("boom")
    source.c.error(boom)
    assert await rejects(pending, ValueError) is boom
    assert await rejects(reader.closed, ValueError) is boom
    assert await rejects(reader.read(), ValueError) is boom
    assert source.c.desired_size is None
    source.c.error(ValueError("second"))  # ignored once errored
    with pytest.raises(TypeError):
        source.c.enqueue(1)
    with pytest.raises(TypeError):
        source.c.close()


@both_loops
async def test_error_drops_queued_chunks() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    source.c.error(KeyError("k"))
    await rejects(default_reader(stream).read(), KeyError)


@both_loops
async def test_error_with_a_non_exception_reason_wraps_it() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.error("why")
    exc = await rejects(default_reader(stream).closed, AbortError)
    assert isinstance(exc, AbortError) and exc.reason == "why"


@both_loops
async def test_reader_on_closed_or_errored_stream_has_settled_closed() -> None:
    s1 = Source()
    closed_stream: ReadableStream[Any] = ReadableStream(s1)
    s1.c.close()
    await default_reader(closed_stream).closed
    s2 = Source()
    errored: ReadableStream[Any] = ReadableStream(s2)
    s2.c.error(OSError("x"))
    await rejects(default_reader(errored).closed, OSError)


@both_loops
async def test_closed_is_awaited_by_many_tasks() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    reader = default_reader(stream)

    async def wait() -> str:
        await reader.closed
        return "ok"

    tasks = [rt.spawn(wait()) for _ in range(5)]
    await settle()
    source.c.close()
    assert await rt.gather(*tasks) == ["ok"] * 5


# -- start, pull and desired_size ----------------------------------------------------------


@both_loops
async def test_pull_is_not_called_before_start_settles() -> None:
    started = rt.Event()
    pulls: list[int] = []

    async def start(controller: Any) -> None:
        await started.wait()

    source = {"start": start, "pull": lambda c: pulls.append(1)}
    stream: ReadableStream[Any] = ReadableStream(source)
    await settle()
    assert pulls == []
    started.set()
    await settle()
    assert pulls == [1]  # fills up to the high-water mark of 1 ... once
    assert stream.locked is False


@both_loops
async def test_pull_is_called_until_the_high_water_mark_is_reached() -> None:
    source = Source(pull_enqueues=True)
    stream: ReadableStream[Any] = ReadableStream(source, CountQueuingStrategy(3))
    await settle()
    assert source.pulls == 3
    assert source.c.desired_size == 0
    reader = default_reader(stream)
    assert (await reader.read()).value == 1
    assert source.pulls == 4
    assert source.c.desired_size == 0


@both_loops
async def test_pull_with_hwm_zero_waits_for_a_read() -> None:
    source = Source(pull_enqueues=True)
    stream: ReadableStream[Any] = ReadableStream(source, {"high_water_mark": 0})
    await settle()
    assert source.pulls == 0
    assert (await default_reader(stream).read()).value == 1
    assert source.pulls == 1


@both_loops
async def test_pull_is_not_called_again_while_its_result_is_pending() -> None:
    calls = 0
    gate: asyncio.Future[None] = rt.future()

    async def pull(controller: Any) -> None:
        nonlocal calls
        calls += 1
        await gate
        controller.enqueue(calls)

    stream: ReadableStream[Any] = ReadableStream({"pull": pull}, {"high_water_mark": 0})
    reader = default_reader(stream)
    reads = [reader.read(), reader.read(), reader.read()]
    await settle()
    assert calls == 1
    gate.set_result(None)
    assert [(await r).value for r in reads] == [1, 2, 3]


@both_loops
async def test_pull_rejection_errors_the_stream() -> None:
    async def pull(controller: Any) -> None:
        raise ValueError("pull failed")

    stream: ReadableStream[Any] = ReadableStream({"pull": pull})
    await rejects(default_reader(stream).closed, ValueError)


@both_loops
async def test_async_start_rejection_errors_the_stream() -> None:
    async def start(controller: Any) -> None:
        raise ValueError("start failed")

    stream: ReadableStream[Any] = ReadableStream({"start": start})
    await rejects(default_reader(stream).read(), ValueError)


@both_loops
async def test_desired_size_follows_the_strategy() -> None:
    source = Source()
    ReadableStream(source, {"high_water_mark": 10, "size": len})
    assert source.c.desired_size == 10
    source.c.enqueue("abcd")
    assert source.c.desired_size == 6
    source.c.enqueue("abcdefghij")
    assert source.c.desired_size == -4
    source.c.close()
    assert source.c.desired_size == -4  # closing, not yet closed


@both_loops
async def test_desired_size_is_zero_when_closed() -> None:
    source = Source()
    ReadableStream(source)
    source.c.close()
    assert source.c.desired_size == 0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_size_function_returning_bad_values_errors_the_stream(bad: float) -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source, {"size": lambda chunk: bad})
    with pytest.raises(ValueError):
        source.c.enqueue("x")
    assert repr(stream) == "<ReadableStream errored>"


def test_size_function_raising_errors_the_stream_with_that_error() -> None:
    source = Source()
    boom = ZeroDivisionError()

    def size(chunk: Any) -> float:
        raise boom

    stream: ReadableStream[Any] = ReadableStream(source, {"size": size})
    with pytest.raises(ZeroDivisionError):
        source.c.enqueue("x")
    assert stream._stored_error is boom


# -- cancel -----------------------------------------------------------------------------


@both_loops
async def test_cancel_drops_the_queue_tells_the_source_and_closes() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    await stream.cancel("reason")
    assert source.cancelled == ["reason"]
    reader = default_reader(stream)
    assert (await reader.read()).done
    reader.release_lock()
    await stream.cancel("again")  # cancelling a closed stream succeeds at once
    assert source.cancelled == ["reason"]


@both_loops
async def test_reader_cancel_fulfils_pending_reads_with_done() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    reader = default_reader(stream)
    pending = reader.read()
    await reader.cancel(42)
    assert (await pending).done
    await reader.closed
    assert source.cancelled == [42]


@both_loops
async def test_cancel_waits_for_an_async_source_cancel_and_takes_its_error() -> None:
    gate = rt.Event()

    async def cancel(reason: Any) -> None:
        await gate.wait()
        raise OSError("cancel failed")

    stream: ReadableStream[Any] = ReadableStream({"cancel": cancel})
    result = stream.cancel()
    await settle()
    assert not result.done()
    gate.set()
    await rejects(result, OSError)


@both_loops
async def test_cancel_on_an_errored_stream_rejects_with_the_stored_error() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.error(KeyError("x"))
    await rejects(stream.cancel(), KeyError)


@both_loops
async def test_enqueue_after_cancel_is_a_type_error() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    await stream.cancel()
    with pytest.raises(TypeError):
        source.c.enqueue(1)


# -- async iteration ------------------------------------------------------------------------


@both_loops
async def test_async_for_yields_every_chunk_then_releases() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    for i in range(5):
        source.c.enqueue(i)

    async def later() -> None:
        await rt.sleep(0)
        source.c.enqueue(5)
        source.c.close()

    async with background(later()) as tasks:  # a failing producer fails the test at once
        assert await read_all(stream) == [0, 1, 2, 3, 4, 5]
        await tasks.tasks[0]
    assert not stream.locked


@both_loops
async def test_async_for_locks_the_stream() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    it = stream.__aiter__()
    assert await it.__anext__() == 1
    assert stream.locked
    with pytest.raises(TypeError):
        stream.get_reader()
    await it.aclose()  # type: ignore[attr-defined]


@both_loops
async def test_breaking_out_of_async_for_cancels_the_stream() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    source.c.enqueue(2)
    async for _chunk in stream:
        break
    # At once, with no loop pass: the iterator ends as the loop drops it.
    assert not stream.locked
    await settle()  # the source's cancel steps settle
    assert source.cancelled == [None]
    assert (await default_reader(stream).read()).done


@both_loops
async def test_values_prevent_cancel_keeps_the_stream_usable() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    source.c.enqueue(2)
    async for _chunk in stream.values(prevent_cancel=True):
        break
    assert not stream.locked
    await settle()
    assert source.cancelled == []
    assert (await default_reader(stream).read()).value == 2


@both_loops
async def test_async_for_raises_the_stream_error() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    got: list[Any] = []
    with pytest.raises(ValueError, match="mid"):
        async for chunk in stream:
            got.append(chunk)
            source.c.error(ValueError("mid"))
    assert got == [1]


@both_loops
async def test_async_for_over_a_locked_stream_is_a_type_error() -> None:
    stream: ReadableStream[Any] = ReadableStream()
    default_reader(stream)
    with pytest.raises(TypeError):
        async for _chunk in stream:
            pass


@both_loops
async def test_an_exception_in_the_loop_body_cancels_the_stream() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    with pytest.raises(RuntimeError):
        async for _chunk in stream:
            raise RuntimeError("body")
    await settle()
    assert source.cancelled == [None]


@both_loops
async def test_aclosing_the_iterator_cancels_at_once() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.enqueue(1)
    async with contextlib.aclosing(stream.values()) as chunks:
        async for _chunk in chunks:
            break
    assert source.cancelled == [None]
    assert not stream.locked


@both_loops
async def test_a_reader_can_follow_a_released_async_for_on_a_closed_stream() -> None:
    source = Source()
    stream: ReadableStream[Any] = ReadableStream(source)
    source.c.close()
    assert await read_all(stream) == []
    await default_reader(stream).closed


# -- the internal constructor the sockets use ------------------------------------------------


@both_loops
async def test_internal_create_pulls_and_cancels_through_algorithms() -> None:
    pulls: list[int] = []
    cancels: list[Any] = []
    stream = ReadableStream._create(
        pull=lambda: pulls.append(1),
        cancel=lambda reason: cancels.append(reason),
        high_water_mark=2,
    )
    controller = stream._controller
    assert isinstance(controller, ReadableStreamDefaultController)
    controller.enqueue(b"a")
    assert controller.desired_size == 1
    assert pulls  # below the mark: the source is asked for more
    reader = default_reader(stream)
    assert (await reader.read()).value == b"a"
    await reader.cancel("stop")
    assert cancels == ["stop"]
