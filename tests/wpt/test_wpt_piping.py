"""Ported from WPT streams/piping/general.any.js, close-propagation-forward.any.js and
error-propagation-forward.any.js.  WPT's ``setTimeout(f)`` is ``loop.call_later``."""

from __future__ import annotations

from typing import Any

from tests import rt
from wpt_support import (
    Cases,
    Error1,
    Error2,
    RecordingReadable,
    RecordingWritable,
    flush_async_events,
    rejects_type,
    rejects_with,
)

from unisock.streams import (
    CountQueuingStrategy,
    ReadableStream,
    ReadableStreamDefaultController,
    WritableStream,
)

wpt = Cases()
C = ReadableStreamDefaultController


def later(ms: float, fn: Any) -> None:
    rt.runtime().call_later(ms / 1000, fn)


# -- general.any.js -------------------------------------------------------------------------


@wpt("Piping must lock both the ReadableStream and WritableStream")
async def pipe_locks() -> None:
    rs, ws = ReadableStream(), WritableStream()
    assert not rs.locked and not ws.locked
    rs.pipe_to(ws)
    assert rs.locked and ws.locked


@wpt("Piping finishing must unlock both the ReadableStream and WritableStream")
async def pipe_unlocks() -> None:
    rs, ws = ReadableStream({"start": lambda c: c.close()}), WritableStream()
    await rs.pipe_to(ws)
    assert not rs.locked and not ws.locked


@wpt("pipeTo must fail if the ReadableStream is locked, and not lock the WritableStream")
async def readable_locked() -> None:
    rs, ws = ReadableStream(), WritableStream()
    rs.get_reader()
    await rejects_type(rs.pipe_to(ws), TypeError)
    assert not ws.locked


@wpt("pipeTo must fail if the WritableStream is locked, and not lock the ReadableStream")
async def writable_locked() -> None:
    rs, ws = ReadableStream(), WritableStream()
    ws.get_writer()
    await rejects_type(rs.pipe_to(ws), TypeError)
    assert not rs.locked


@wpt("Piping from a ReadableStream from which lots of chunks are synchronously readable")
async def lots_of_chunks() -> None:
    def start(c: C) -> None:
        for i in range(10):
            c.enqueue(i)
        c.close()

    written: list[Any] = []
    ws = WritableStream(
        {
            "write": lambda chunk, c: written.append(chunk),
            "close": lambda: written.append("closed"),
        },
        CountQueuingStrategy(high_water_mark=10),
    )
    rs = ReadableStream({"start": start})
    await rs.pipe_to(ws)
    assert written == [*range(10), "closed"]
    await rs.get_reader().closed
    await ws.get_writer().closed


@wpt(
    "Piping from a ReadableStream for which a chunk becomes asynchronously readable after the "
    "pipeTo"
)
async def chunk_after_pipe() -> None:
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream)
    later(10, lambda: (rs.c.enqueue("Hello"), later(10, rs.c.close)))
    await pipe
    assert ws.events == ["write", "Hello", "close"]


# -- close-propagation-forward.any.js -------------------------------------------------------

P = "Closing must be propagated forward: "


@wpt(P + "starts closed; preventClose omitted; fulfilled close promise")
async def starts_closed() -> None:
    rs = RecordingReadable({"start": lambda c: c.close()})
    ws = RecordingWritable()
    assert await rs.stream.pipe_to(ws.stream) is None
    assert rs.events == [] and ws.events == ["close"]
    await rs.stream.get_reader().closed
    await ws.stream.get_writer().closed


@wpt(P + "starts closed; preventClose omitted; rejected close promise")
async def starts_closed_close_rejects() -> None:
    error1 = Error1("error1!")

    def close() -> None:
        raise error1

    rs = RecordingReadable({"start": lambda c: c.close()})
    ws = RecordingWritable({"close": close})
    await rejects_with(rs.stream.pipe_to(ws.stream), error1)
    assert rs.events == [] and ws.events == ["close"]
    await rs.stream.get_reader().closed
    await rejects_with(ws.stream.get_writer().closed, error1)


@wpt(P + "starts closed; preventClose = false (falsy); fulfilled close promise")
async def starts_closed_prevent_false() -> None:
    rs = RecordingReadable({"start": lambda c: c.close()})
    ws = RecordingWritable()
    await rs.stream.pipe_to(ws.stream, prevent_close=False)
    assert ws.events == ["close"]


@wpt(P + "starts closed; preventClose = true (truthy)")
async def starts_closed_prevent_true() -> None:
    rs = RecordingReadable({"start": lambda c: c.close()})
    ws = RecordingWritable()
    assert await rs.stream.pipe_to(ws.stream, prevent_close=True) is None
    assert rs.events == [] and ws.events == []
    await rs.stream.get_reader().closed


@wpt(P + "starts closed; preventClose = true, preventAbort = true, preventCancel = true")
async def starts_closed_prevent_all() -> None:
    rs = RecordingReadable({"start": lambda c: c.close()})
    ws = RecordingWritable()
    await rs.stream.pipe_to(ws.stream, prevent_close=True, prevent_abort=True, prevent_cancel=True)
    assert rs.events == [] and ws.events == []


@wpt(P + "becomes closed asynchronously; preventClose omitted; fulfilled close promise")
async def becomes_closed() -> None:
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream)
    later(0, rs.c.close)
    await pipe
    assert rs.events_without_pulls == [] and ws.events == ["close"]


@wpt(P + "becomes closed asynchronously; preventClose = true")
async def becomes_closed_prevent() -> None:
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream, prevent_close=True)
    later(0, rs.c.close)
    await pipe
    assert rs.events_without_pulls == [] and ws.events == []


@wpt(
    P + "becomes closed asynchronously; dest never desires chunks; preventClose omitted; "
    "fulfilled close promise"
)
async def becomes_closed_hwm0() -> None:
    rs = RecordingReadable()
    ws = RecordingWritable(None, CountQueuingStrategy(high_water_mark=0))
    pipe = rs.stream.pipe_to(ws.stream)
    later(0, rs.c.close)
    await pipe
    assert ws.events == ["close"]


@wpt(P + "becomes closed after one chunk; preventClose omitted; fulfilled close promise")
async def closed_after_one_chunk() -> None:
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream)
    later(10, lambda: (rs.c.enqueue("Hello"), later(0, rs.c.close)))
    await pipe
    assert ws.events == ["write", "Hello", "close"]


@wpt(P + "becomes closed after one chunk; preventClose = true")
async def closed_after_one_chunk_prevent() -> None:
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream, prevent_close=True)
    later(10, lambda: (rs.c.enqueue("Hello"), later(0, rs.c.close)))
    await pipe
    assert ws.events == ["write", "Hello"]


@wpt(P + "shutdown must not occur until the final write completes")
async def close_waits_for_write() -> None:
    gate = rt.Event()

    async def write(chunk: Any, c: Any) -> None:
        await gate.wait()

    rs, ws = RecordingReadable(), RecordingWritable({"write": write})
    pipe = rs.stream.pipe_to(ws.stream)
    rs.c.enqueue("a")
    rs.c.close()
    await flush_async_events()
    assert ws.events == ["write", "a"] and not pipe.done()
    gate.set()
    await pipe
    assert ws.events == ["write", "a", "close"]


# -- error-propagation-forward.any.js -------------------------------------------------------

E = "Errors must be propagated forward: "


def _starts_errored(error: BaseException) -> RecordingReadable:
    async def start(c: C) -> None:
        raise error

    return RecordingReadable({"start": start})


@wpt(E + "starts errored; preventAbort = false; fulfilled abort promise")
async def starts_errored() -> None:
    error1 = Error1("error1!")
    rs, ws = _starts_errored(error1), RecordingWritable()
    await rejects_with(rs.stream.pipe_to(ws.stream), error1)
    assert rs.events == [] and ws.events == ["abort", error1]


@wpt(E + "starts errored; preventAbort = false; rejected abort promise")
async def starts_errored_abort_rejects() -> None:
    error1, error2 = Error1("error1!"), Error2("error2!")

    def abort(reason: Any) -> None:
        raise error2

    rs, ws = _starts_errored(error1), RecordingWritable({"abort": abort})
    await rejects_with(rs.stream.pipe_to(ws.stream), error2)
    assert ws.events == ["abort", error1]


@wpt(E + "starts errored; preventAbort = true (truthy)")
async def starts_errored_prevent() -> None:
    error1 = Error1("error1!")
    rs, ws = _starts_errored(error1), RecordingWritable()
    await rejects_with(rs.stream.pipe_to(ws.stream, prevent_abort=True), error1)
    assert rs.events == [] and ws.events == []


@wpt(E + "starts errored; preventAbort = true, preventCancel = true, preventClose = true")
async def starts_errored_prevent_all() -> None:
    error1 = Error1("error1!")
    rs, ws = _starts_errored(error1), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream, prevent_abort=True, prevent_cancel=True, prevent_close=True)
    await rejects_with(pipe, error1)
    assert ws.events == []


@wpt(E + "becomes errored while empty; preventAbort = false; fulfilled abort promise")
async def becomes_errored() -> None:
    error1 = Error1("error1!")
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream)
    later(10, lambda: rs.c.error(error1))
    await rejects_with(pipe, error1)
    assert rs.events_without_pulls == [] and ws.events == ["abort", error1]


@wpt(E + "becomes errored while empty; preventAbort = true")
async def becomes_errored_prevent() -> None:
    error1 = Error1("error1!")
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream, prevent_abort=True)
    later(10, lambda: rs.c.error(error1))
    await rejects_with(pipe, error1)
    assert ws.events == []


@wpt(
    E + "becomes errored while empty; dest never desires chunks; preventAbort = false; "
    "fulfilled abort promise"
)
async def becomes_errored_hwm0() -> None:
    error1 = Error1("error1!")
    rs = RecordingReadable()
    ws = RecordingWritable(None, CountQueuingStrategy(high_water_mark=0))
    pipe = rs.stream.pipe_to(ws.stream)
    later(10, lambda: rs.c.error(error1))
    await rejects_with(pipe, error1)
    assert ws.events == ["abort", error1]


@wpt(E + "becomes errored after one chunk; preventAbort = false; fulfilled abort promise")
async def errored_after_one_chunk() -> None:
    error1 = Error1("error1!")
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream)
    later(10, lambda: (rs.c.enqueue("Hello"), later(10, lambda: rs.c.error(error1))))
    await rejects_with(pipe, error1)
    assert ws.events == ["write", "Hello", "abort", error1]


@wpt(E + "becomes errored after one chunk; preventAbort = true")
async def errored_after_one_chunk_prevent() -> None:
    error1 = Error1("error1!")
    rs, ws = RecordingReadable(), RecordingWritable()
    pipe = rs.stream.pipe_to(ws.stream, prevent_abort=True)
    later(10, lambda: (rs.c.enqueue("Hello"), later(10, lambda: rs.c.error(error1))))
    await rejects_with(pipe, error1)
    assert ws.events == ["write", "Hello"]


@wpt(
    E + "becomes errored after one chunk; dest never desires chunks; preventAbort = false; "
    "fulfilled abort promise"
)
async def errored_after_one_chunk_hwm0() -> None:
    error1 = Error1("error1!")
    rs = RecordingReadable()
    ws = RecordingWritable(None, CountQueuingStrategy(high_water_mark=0))
    pipe = rs.stream.pipe_to(ws.stream)
    later(10, lambda: (rs.c.enqueue("Hello"), later(10, lambda: rs.c.error(error1))))
    await rejects_with(pipe, error1)
    assert ws.events == ["abort", error1]


@wpt(E + "shutdown must not occur until the final write completes")
async def abort_waits_for_write() -> None:
    error1 = Error1("error1!")
    gate, write_called = rt.Event(), rt.Event()

    async def write(chunk: Any, c: Any) -> None:
        write_called.set()
        await gate.wait()

    rs, ws = RecordingReadable(), RecordingWritable({"write": write})
    pipe = rs.stream.pipe_to(ws.stream)
    rs.c.enqueue("a")
    await write_called.wait()
    rs.c.error(error1)
    await flush_async_events()
    assert ws.events == ["write", "a"] and not pipe.done()
    gate.set()
    await rejects_with(pipe, error1)
    assert ws.events == ["write", "a", "abort", error1]


test_wpt = wpt.collect()
