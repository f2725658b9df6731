"""Ported from WPT streams/writable-streams/close.any.js and aborting.any.js."""

from __future__ import annotations

import asyncio
from typing import Any

from tests import rt
from wpt_support import (
    Cases,
    Error1,
    Error2,
    RecordingWritable,
    delay,
    flush_async_events,
    rejects_type,
    rejects_with,
)

from unisock.streams import CountQueuingStrategy, WritableStream

wpt = Cases()

# -- close.any.js ---------------------------------------------------------------------------


@wpt(
    "fulfillment value of ws.close() call must be undefined even if the underlying sink returns "
    "a non-undefined value"
)
async def close_value() -> None:
    ws = WritableStream({"close": lambda: "Hello"})
    assert await ws.get_writer().close() is None


@wpt("when sink calls error synchronously while closing, the stream should not become errored")
async def error_sync_while_closing() -> None:
    controllers: list[Any] = []
    passed = Error1("error me")
    ws = WritableStream(
        {"start": controllers.append, "close": lambda: controllers[0].error(passed)}
    )
    writer = ws.get_writer()
    await writer.close()
    await writer.closed


@wpt(
    "when the sink throws during close, and the close is requested while a write is still "
    "in-flight, the stream should become errored during the close"
)
async def close_throws_after_write() -> None:
    error1 = Error1("error1")

    def close() -> None:
        raise error1

    writer = WritableStream({"close": close}).get_writer()
    write = writer.write("y")
    close_promise = writer.close()
    await write
    await rejects_with(close_promise, error1)
    await rejects_with(writer.closed, error1)


@wpt(
    "when close is called on a WritableStream in writable state, ready should return a "
    "fulfilled promise"
)
async def ready_after_close() -> None:
    """Deviation (DEVIATIONS.md, "synchronous sinks"): a sink's synchronous close() closes
    the stream at once, so desiredSize is already 0 where WPT still sees 1."""
    ws = RecordingWritable()
    writer = ws.stream.get_writer()
    await writer.ready
    assert writer.desired_size == 1
    writer.close()
    assert writer.desired_size == 0
    assert await writer.ready is None
    assert ws.events == ["close"]


@wpt(
    "when close is called on a WritableStream in waiting state, ready should be fulfilled "
    "immediately even if close takes a long time"
)
async def ready_while_slow_close() -> None:
    finished: list[bool] = []

    async def close() -> None:
        await flush_async_events()
        finished.append(True)

    ws = RecordingWritable({"close": close})
    writer = ws.stream.get_writer()
    await writer.ready
    writer.write("a")
    writer.close()
    await writer.ready
    assert not finished
    assert ws.events == ["write", "a", "close"]


@wpt("releaseLock() should not change the result of sync close()")
async def release_after_sync_close() -> None:
    """Deviation (DEVIATIONS.md, "synchronous sinks"): the synchronous close has already resolved
    ``closed`` when the lock is released; the released writer's ``closed`` rejects."""
    writer = WritableStream().get_writer()
    await writer.ready
    close_promise, closed_promise = writer.close(), writer.closed
    writer.release_lock()
    await close_promise
    await closed_promise
    await rejects_type(writer.closed, TypeError)


@wpt("releaseLock() should not change the result of async close()")
async def release_after_async_close() -> None:
    writer = WritableStream({"close": flush_async_events}).get_writer()
    await writer.ready
    close_promise, closed_promise = writer.close(), writer.closed
    writer.release_lock()
    await close_promise
    await rejects_type(closed_promise, TypeError)


@wpt("close() should set state to CLOSED even if writer has detached")
async def closed_after_detach() -> None:
    gate = rt.Event()

    async def close() -> None:
        await gate.wait()

    ws = WritableStream({"close": close})
    writer = ws.get_writer()
    close_promise = writer.close()
    writer.release_lock()
    await delay(0)
    gate.set()
    await close_promise
    assert ws.get_writer().desired_size == 0


@wpt("the promise returned by async abort during close should resolve")
async def abort_during_close() -> None:
    gate = rt.Event()

    async def close() -> None:
        await gate.wait()

    ws = WritableStream({"close": close})
    writer = ws.get_writer()
    writer.close()
    writer.release_lock()
    await delay(0)
    aborting = ws.get_writer()
    abort_promise = aborting.abort()
    aborting.release_lock()
    gate.set()
    await abort_promise


@wpt("close() should not reject until no sink methods are in flight")
async def close_waits_for_sink() -> None:
    error1 = Error1("error1")
    gate = rt.Event()
    controllers: list[Any] = []

    def write(chunk: Any, c: Any) -> Any:  # a plain function: it runs when called
        controllers.append(c)
        return rt.spawn(gate.wait())

    writer = WritableStream({"write": write}).get_writer()
    await writer.ready
    write_promise = writer.write("c")
    controllers[0].error(error1)
    close_promise = writer.close()
    await flush_async_events()
    assert not close_promise.done()
    gate.set()
    await write_promise
    await rejects_with(close_promise, error1)


@wpt("ready promise should be initialised as fulfilled for a writer on a closed stream")
async def ready_on_closed() -> None:
    ws = WritableStream()
    writer1 = ws.get_writer()
    await writer1.close()
    writer1.release_lock()
    assert ws.get_writer().ready.done()


@wpt("close() on a writable stream should work")
async def close_on_stream() -> None:
    ws = WritableStream()
    ws.close()
    await ws.get_writer().closed


@wpt("close() on a locked stream should reject")
async def close_locked() -> None:
    ws = WritableStream()
    ws.get_writer()
    await rejects_type(ws.close(), TypeError)


@wpt("close() on an erroring stream should reject")
async def close_erroring() -> None:
    """Deviation (DEVIATIONS.md, "synchronous sinks"): a synchronous start() finishes the erroring
    at once, so the stream is already errored and close() rejects with TypeError."""
    error1 = Error1("error1")
    ws = WritableStream({"start": lambda c: c.error(error1)})
    await rejects_type(ws.close(), TypeError)


@wpt("close() on an errored stream should reject")
async def close_errored() -> None:
    error1 = Error1("error1")
    ws = WritableStream({"start": lambda c: c.error(error1)})
    writer = ws.get_writer()
    await rejects_with(writer.closed, error1)
    writer.release_lock()
    await rejects_type(ws.close(), TypeError)


@wpt("close() on an closed stream should reject")
async def close_closed() -> None:
    ws = WritableStream()
    await ws.get_writer().close()
    await rejects_type(ws.close(), TypeError)


@wpt("close() on a stream with a pending close should reject")
async def close_pending_close() -> None:
    never: asyncio.Future[None] = rt.future()
    ws = WritableStream({"close": lambda: never})
    writer = ws.get_writer()
    writer.close()
    writer.release_lock()
    await rejects_type(ws.close(), TypeError)
    never.cancel()


# -- aborting.any.js ------------------------------------------------------------------------


@wpt(
    "Aborting a WritableStream before it starts should cause the writer's unsettled ready "
    "promise to reject"
)
async def abort_before_start() -> None:
    """A start() that has not finished (WPT's start is done only after a microtask; here
    it returns a pending future) keeps the write queued, so abort rejects it."""
    error1 = Error1("error1")

    written: list[Any] = []

    def write(chunk: Any, c: Any) -> None:
        written.append(chunk)

    writer = WritableStream({"write": write, "start": lambda c: rt.sleep(0)}).get_writer()
    write_promise = writer.write("a")
    ready = writer.ready
    writer.abort(error1)
    assert writer.ready is ready
    await rejects_with(ready, error1)
    await rejects_with(write_promise, error1)
    assert written == []


@wpt(
    "Aborting a WritableStream should cause the writer's fulfilled ready promise to reset to a "
    "rejected one"
)
async def abort_resets_ready() -> None:
    error1 = Error1("error1")
    writer = WritableStream().get_writer()
    writer.write("a")
    ready = writer.ready
    await ready
    writer.abort(error1)
    assert writer.ready is not ready
    await rejects_with(writer.ready, error1)


@wpt("abort() on a released writer rejects")
async def abort_released() -> None:
    writer = WritableStream().get_writer()
    writer.release_lock()
    await rejects_type(writer.abort(), TypeError)


@wpt("Aborting a WritableStream immediately prevents future writes")
async def abort_prevents_writes() -> None:
    error1 = Error1("error1")
    ws = RecordingWritable()
    await delay(0)
    writer = ws.stream.get_writer()
    abort_promise = writer.abort(error1)
    await rejects_with(writer.write(1), error1)
    await rejects_with(writer.write(2), error1)
    await abort_promise
    assert ws.events == ["abort", error1]


@wpt("Aborting a WritableStream prevents further writes after any that are in progress")
async def abort_after_in_progress() -> None:
    """Deviation (DEVIATIONS.md, "synchronous sinks"): a synchronous sink write() completes at once,
    so writes 2 and 3 reach the sink before the abort (WPT: only write 1 does)."""
    error1 = Error1("error1")
    ws = RecordingWritable()
    await delay(0)
    writer = ws.stream.get_writer()
    results = [writer.write(1), writer.write(2), writer.write(3)]
    abort_promise = writer.abort(error1)
    results += [writer.write(4), writer.write(5)]
    await abort_promise
    assert ws.events == ["write", 1, "write", 2, "write", 3, "abort", error1]
    for result in results[:3]:
        await result
    for result in results[3:]:
        await rejects_with(result, error1)


@wpt(
    "Fulfillment value of writer.abort() call must be undefined even if the underlying sink "
    "returns a non-undefined value"
)
async def abort_value() -> None:
    writer = WritableStream({"abort": lambda reason: "Hello"}).get_writer()
    assert await writer.abort("a") is None


@wpt("WritableStream if sink's abort throws, the promise returned by writer.abort() rejects")
async def abort_throws_writer() -> None:
    error1 = Error1("error1")

    def abort(reason: Any) -> None:
        raise error1

    await rejects_with(WritableStream({"abort": abort}).get_writer().abort(None), error1)


@wpt(
    "WritableStream if sink's abort throws, the promise returned by multiple writer.abort()s "
    "is the same and rejects"
)
async def abort_throws_twice() -> None:
    """Deviation (DEVIATIONS.md, "synchronous sinks"): a synchronous sink abort() finishes the first
    abort at once, so the second abort() finds an errored stream and resolves."""
    error1 = Error1("error1")

    def abort(reason: Any) -> None:
        raise error1

    writer = WritableStream({"abort": abort}).get_writer()
    p1, p2 = writer.abort(None), writer.abort(None)
    await rejects_with(p1, error1)
    await p2  # the first abort finished at once: the stream is errored, abort() resolves


@wpt("WritableStream if sink's abort throws, the promise returned by ws.abort() rejects")
async def abort_throws_stream() -> None:
    error1 = Error1("error1")

    def abort(reason: Any) -> None:
        raise error1

    await rejects_with(WritableStream({"abort": abort}).abort(None), error1)


@wpt("Aborting a WritableStream passes through the given reason")
async def abort_reason() -> None:
    error1 = Error1("error1")
    ws = RecordingWritable()
    await ws.stream.get_writer().abort(error1)
    assert ws.events == ["abort", error1]


@wpt("Aborting a WritableStream puts it in an errored state with the error passed to abort()")
async def abort_errors() -> None:
    """Deviation (DEVIATIONS.md, "synchronous sinks"): with no sink abort() the abort finishes at
    once, so a close() right after it finds an errored stream: TypeError, not error1."""
    error1 = Error1("error1")
    writer = WritableStream().get_writer()
    abort_promise = writer.abort(error1)
    write_promise, close_promise = writer.write(None), writer.close()
    await abort_promise
    await rejects_with(write_promise, error1)
    await rejects_type(close_promise, TypeError)  # the abort has already finished
    await rejects_with(writer.ready, error1)
    await rejects_with(writer.closed, error1)


@wpt(
    "Aborting a WritableStream causes any outstanding write() promises to be rejected with the "
    "reason supplied"
)
async def abort_rejects_writes() -> None:
    error1 = Error1("error1")
    writer = WritableStream({"start": lambda c: rt.sleep(0)}).get_writer()
    write_promise = writer.write("a")  # queued: start is not done yet, as in WPT
    writer.abort(error1)
    await rejects_with(write_promise, error1)


@wpt("Closing but then immediately aborting a WritableStream causes the stream to error")
async def close_then_abort() -> None:
    error1 = Error1("error1")
    ws = RecordingWritable({"start": lambda c: rt.sleep(0)})  # start done a pass later
    writer = ws.stream.get_writer()
    close_promise = writer.close()
    abort_promise = writer.abort(error1)
    await rejects_with(writer.closed, error1)
    await rejects_with(close_promise, error1)
    await abort_promise
    assert ws.events == ["abort", error1]


@wpt(
    "Closing a WritableStream and aborting it while it closes causes the stream to ignore the "
    "abort attempt"
)
async def abort_while_closing() -> None:
    error1 = Error1("error1")
    gate = rt.Event()

    async def close() -> None:
        await gate.wait()

    writer = WritableStream({"close": close}).get_writer()
    close_promise = writer.close()
    await delay(0)
    abort_promise = writer.abort(error1)
    gate.set()
    await writer.closed
    await abort_promise
    await close_promise


@wpt("Aborting a WritableStream after it is closed is a no-op")
async def abort_after_closed() -> None:
    writer = WritableStream().get_writer()
    writer.close()
    await delay(0)
    await writer.abort()


@wpt("WritableStream should NOT call underlying sink's close if no abort is supplied (historical)")
async def abort_no_close_fallback() -> None:
    error1 = Error1("error1")
    closed: list[bool] = []
    writer = WritableStream({"close": lambda: closed.append(True)}).get_writer()
    writer.abort(error1)
    await rejects_with(writer.closed, error1)
    assert not closed


@wpt(".closed should not resolve before fulfilled write()")
async def closed_after_write() -> None:
    error1 = Error1("error1")
    order: list[str] = []
    writer = WritableStream({"write": lambda chunk, c: flush_async_events()}).get_writer()
    await writer.ready
    write_promise = writer.write("a")
    writer.abort(error1)
    write_promise.add_done_callback(lambda d: order.append("write"))
    writer.closed.add_done_callback(lambda d: order.append("closed"))
    await write_promise
    await rejects_with(writer.closed, error1)
    assert order == ["write", "closed"]


@wpt(
    ".closed should not resolve before rejected write(); write() error should not overwrite "
    "abort() error"
)
async def closed_after_rejected_write() -> None:
    """Deviation (DEVIATIONS.md, "settlement order"): the end states match; WPT's check that
    write() settles before closed is not made (here closed rejects first)."""
    error1, error2 = Error1("error1"), Error2("error2")

    async def write(chunk: Any, c: Any) -> None:
        raise error1

    writer = WritableStream({"write": write}).get_writer()
    await writer.ready
    write_promise = writer.write("a")
    abort_promise = writer.abort(error2)
    await rejects_with(write_promise, error1)
    await rejects_with(writer.closed, error2)
    await abort_promise


@wpt("writes should be satisfied in order when aborting")
async def writes_in_order() -> None:
    error1 = Error1("error1")
    order: list[int] = []
    ws = WritableStream(
        {"write": lambda chunk, c: flush_async_events()}, CountQueuingStrategy(high_water_mark=4)
    )
    writer = ws.get_writer()
    await writer.ready
    writes = [writer.write(str(i)) for i in (1, 2, 3)]
    for i, w in enumerate(writes, 1):
        w.add_done_callback(lambda d, i=i: order.append(i))
    abort_promise = writer.abort(error1)
    await writes[0]
    await rejects_with(writes[1], error1)
    await rejects_with(writes[2], error1)
    await abort_promise
    assert order == [1, 2, 3]


@wpt("close() should reject with abort reason why abort() is first error")
async def close_rejects_with_abort_reason() -> None:
    error1, error2 = Error1("error1"), Error2("error2")

    async def write(chunk: Any, c: Any) -> None:
        raise error1

    writer = WritableStream({"write": write}).get_writer()
    await writer.ready
    write_promise, close_promise = writer.write("a"), writer.close()
    abort_promise = writer.abort(error2)
    await rejects_with(write_promise, error1)
    await rejects_with(close_promise, error2)
    await abort_promise


@wpt("underlying abort() should not be called until underlying write() completes")
async def abort_waits_for_write() -> None:
    gate = rt.Event()

    async def write(chunk: Any, c: Any) -> None:
        await gate.wait()

    ws = RecordingWritable({"write": write})
    writer = ws.stream.get_writer()
    await writer.ready
    writer.write("a")
    abort_promise = writer.abort("b")
    await flush_async_events()
    assert ws.events == ["write", "a"]
    gate.set()
    await abort_promise
    assert ws.events == ["write", "a", "abort", "b"]


@wpt("underlying abort() should not be called if underlying close() has started")
async def abort_not_after_close_started() -> None:
    gate = rt.Event()

    async def close() -> None:
        await gate.wait()

    ws = RecordingWritable({"close": close})
    writer = ws.stream.get_writer()
    await writer.ready
    writer.close()
    abort_promise = writer.abort()
    await flush_async_events()
    assert ws.events == ["close"]
    gate.set()
    await abort_promise
    assert ws.events == ["close"]


@wpt(
    "if underlying close() has started and then rejects, the abort() and close() promises "
    "should reject with the underlying close rejection reason"
)
async def close_rejects_during_abort() -> None:
    error1 = Error1("error1")
    gate = rt.Event()
    aborted: list[bool] = []

    async def close() -> None:
        await gate.wait()
        raise error1

    writer = WritableStream({"close": close, "abort": lambda r: aborted.append(True)}).get_writer()
    await writer.ready
    close_promise, abort_promise = writer.close(), writer.abort()
    await flush_async_events()
    assert not aborted
    gate.set()
    await rejects_with(abort_promise, error1)
    await rejects_with(close_promise, error1)
    assert not aborted


test_wpt = wpt.collect()
