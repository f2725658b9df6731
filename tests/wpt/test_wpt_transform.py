"""Ported from WPT streams/transform-streams/general.any.js."""

from __future__ import annotations

from typing import Any

import pytest
from tests import rt
from wpt_support import Cases, delay, flush_async_events, read_all, rejects_with

from unisock.streams import ReadableStream, TransformStream, WritableStream

wpt = Cases()


@wpt("TransformStream can be constructed with a transform function")
async def with_transform() -> None:
    TransformStream({"transform": lambda chunk, c: None})


@wpt("TransformStream can be constructed with no transform function")
async def without_transform() -> None:
    TransformStream()
    TransformStream({})


@wpt("TransformStream instances must have writable and readable properties of the correct types")
async def properties() -> None:
    ts = TransformStream({"transform": lambda chunk, c: None})
    assert isinstance(ts.writable, WritableStream)
    assert isinstance(ts.readable, ReadableStream)


@wpt("TransformStream writable starts in the writable state")
async def writable_state() -> None:
    ts = TransformStream({"transform": lambda chunk, c: None})
    assert ts.writable.get_writer().desired_size == 1


@wpt("Identity TransformStream: can read from readable what is put into writable")
async def identity() -> None:
    ts = TransformStream()
    writer = ts.writable.get_writer()
    writer.write("a")
    assert writer.desired_size == 0
    assert tuple(await ts.readable.get_reader().read()) == ("a", False)
    await delay(0)
    assert writer.desired_size == 1


@wpt(
    "Uppercaser sync TransformStream: can read from readable transformed version of what is put "
    "into writable"
)
async def uppercaser() -> None:
    ts = TransformStream({"transform": lambda chunk, c: c.enqueue(chunk.upper())})
    ts.writable.get_writer().write("a")
    assert tuple(await ts.readable.get_reader().read()) == ("A", False)


@wpt("Uppercaser-doubler sync TransformStream: can read both chunks put into the readable")
async def doubler() -> None:
    def transform(chunk: str, c: Any) -> None:
        c.enqueue(chunk.upper())
        c.enqueue(chunk.upper())

    ts = TransformStream({"transform": transform})
    ts.writable.get_writer().write("a")
    reader = ts.readable.get_reader()
    assert tuple(await reader.read()) == ("A", False)
    assert tuple(await reader.read()) == ("A", False)


@wpt(
    "Uppercaser async TransformStream: can read from readable transformed version of what is put "
    "into writable"
)
async def async_uppercaser() -> None:
    async def transform(chunk: str, c: Any) -> None:
        await delay(0)
        c.enqueue(chunk.upper())

    ts = TransformStream({"transform": transform})
    ts.writable.get_writer().write("a")
    assert tuple(await ts.readable.get_reader().read()) == ("A", False)


@wpt(
    "TransformStream: by default, closing the writable closes the readable (when there are no "
    "queued writes)"
)
async def close_closes() -> None:
    ts = TransformStream({"transform": lambda chunk, c: None})
    writer = ts.writable.get_writer()
    writer.close()
    await rt.gather(writer.closed, ts.readable.get_reader().closed)


@wpt(
    "TransformStream: by default, closing the writable waits for transforms to finish before "
    "closing both"
)
async def close_waits_for_transform() -> None:
    gate = rt.Event()

    async def transform(chunk: Any, c: Any) -> None:
        await gate.wait()

    ts = TransformStream({"transform": transform}, None, {"high_water_mark": 1})
    writer = ts.writable.get_writer()
    writer.write("a")
    writer.close()
    rs_closed = ts.readable.get_reader().closed
    await delay(0)
    assert not rs_closed.done()
    gate.set()
    await writer.closed
    assert rs_closed.done()


@wpt(
    "TransformStream: by default, closing the writable closes the readable after sync enqueues "
    "and async done"
)
async def sync_enqueues_async_done() -> None:
    async def transform(chunk: Any, c: Any) -> None:
        c.enqueue("x")
        c.enqueue("y")
        await delay(0)

    ts = TransformStream({"transform": transform})
    writer = ts.writable.get_writer()
    writer.write("a")
    writer.close()
    chunks = rt.spawn(read_all(ts.readable))
    await writer.closed
    assert await chunks == ["x", "y"]


@wpt("Transform stream should call transformer methods as methods")
async def methods_as_methods() -> None:
    class Transformer:
        suffix = "-suffix"

        def start(self, c: Any) -> None:
            c.enqueue("start" + self.suffix)

        def transform(self, chunk: str, c: Any) -> None:
            c.enqueue(chunk + self.suffix)

        def flush(self, c: Any) -> None:
            c.enqueue("flushed" + self.suffix)

    ts = TransformStream(Transformer())
    writer = ts.writable.get_writer()
    writer.write("a")
    writer.close()
    chunks = rt.spawn(read_all(ts.readable))
    await writer.closed
    assert await chunks == ["start-suffix", "a-suffix", "flushed-suffix"]


@wpt("TransformStream start, transform, and flush should be strictly ordered")
async def strictly_ordered() -> None:
    done: list[str] = []

    async def start(c: Any) -> None:
        await flush_async_events()
        done.append("start")

    async def transform(chunk: Any, c: Any) -> None:
        assert done == ["start"]
        await flush_async_events()
        done.append("transform")

    async def flush(c: Any) -> None:
        assert done == ["start", "transform"]
        await flush_async_events()
        done.append("flush")

    ts = TransformStream(
        {"start": start, "transform": transform, "flush": flush}, None, {"high_water_mark": 1}
    )
    writer = ts.writable.get_writer()
    write_promise = writer.write("a")
    await writer.close()
    assert done == ["start", "transform", "flush"]
    await write_promise


@wpt("it should be possible to call transform() synchronously")
async def transform_synchronously() -> None:
    called: list[bool] = []
    ts = TransformStream(
        {"transform": lambda chunk, c: called.append(True)}, None, {"high_water_mark": float("inf")}
    )
    await delay(0)
    write_promise = ts.writable.get_writer().write(None)
    assert called == [True]
    await write_promise


@wpt(
    "closing the writable should close the readable when there are no queued chunks, even with "
    "backpressure"
)
async def close_with_backpressure() -> None:
    ts = TransformStream({}, None, {"high_water_mark": 0})
    writer = ts.writable.get_writer()
    writer.close()
    await rt.gather(writer.closed, ts.readable.get_reader().closed)


@wpt("enqueue() should throw after controller.terminate()")
async def enqueue_after_terminate() -> None:
    def start(c: Any) -> None:
        c.terminate()
        with pytest.raises(TypeError):
            c.enqueue(None)

    TransformStream({"start": start})


@wpt("enqueue() should throw after readable.cancel()")
async def enqueue_after_cancel() -> None:
    controllers: list[Any] = []
    ts = TransformStream({"start": controllers.append})
    cancel_promise = ts.readable.cancel()
    with pytest.raises(TypeError):
        controllers[0].enqueue(None)
    await cancel_promise


@wpt("controller.terminate() should do nothing the second time it is called")
async def terminate_twice() -> None:
    def start(c: Any) -> None:
        c.terminate()
        c.terminate()

    TransformStream({"start": start})


@wpt("terminate() should do nothing after readable.cancel()")
async def terminate_after_cancel() -> None:
    controllers: list[Any] = []
    ts = TransformStream({"start": controllers.append})
    reason = ValueError("cancelReason")
    cancel_promise = ts.readable.cancel(reason)
    controllers[0].terminate()
    await cancel_promise
    await rejects_with(ts.writable.get_writer().closed, reason)


@wpt("start() should not be called twice")
async def start_once() -> None:
    calls: list[Any] = []
    TransformStream({"start": calls.append})
    await flush_async_events()
    assert len(calls) == 1


@wpt("specifying a defined readableType should throw")
async def readable_type() -> None:
    """Deviation: WPT expects RangeError; unisock raises ValueError (Python's RangeError)."""
    with pytest.raises(ValueError):
        TransformStream({"readable_type": "bytes"})


@wpt("specifying a defined writableType should throw")
async def writable_type() -> None:
    """Deviation: WPT expects RangeError; unisock raises ValueError (Python's RangeError)."""
    with pytest.raises(ValueError):
        TransformStream({"writable_type": "bytes"})


test_wpt = wpt.collect()
