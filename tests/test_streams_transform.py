"""TransformStream: the behaviours of WPT streams/transform-streams."""

from __future__ import annotations

from typing import Any

import pytest
from tests import rt
from tests.conftest import background

from test_streams_support import both_loops, default_reader, read_all, rejects, settle
from unisock.streams import (
    CountQueuingStrategy,
    ReadableStream,
    TransformStream,
    TransformStreamDefaultController,
)


def test_bad_transformer_members_are_type_errors_naming_them() -> None:
    for name in ("start", "transform", "flush"):
        with pytest.raises(TypeError, match=name):
            TransformStream({name: 1})


@pytest.mark.parametrize("name", ["readable_type", "writable_type"])
def test_reserved_transformer_fields_are_value_errors(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TransformStream({name: "bytes"})


def test_bad_strategies_are_rejected() -> None:
    with pytest.raises(ValueError, match="high_water_mark"):
        TransformStream(None, {"high_water_mark": -1})
    with pytest.raises(ValueError, match="high_water_mark"):
        TransformStream(None, None, {"high_water_mark": -1})


@both_loops
async def test_identity_transform_passes_chunks_through() -> None:
    ts = TransformStream()
    writer = ts.writable.get_writer()
    reader = default_reader(ts.readable)
    write = writer.write("a")
    assert (await reader.read()).value == "a"
    await write
    close = writer.close()
    assert (await reader.read()).done
    await close


@both_loops
async def test_transform_can_enqueue_several_chunks_and_flush_adds_more() -> None:
    def transform(chunk: str, c: TransformStreamDefaultController) -> None:
        for ch in chunk:
            c.enqueue(ch)

    def flush(c: TransformStreamDefaultController) -> None:
        c.enqueue("!")

    ts = TransformStream({"transform": transform, "flush": flush})
    writer = ts.writable.get_writer()

    async def produce() -> None:
        await writer.write("ab")
        await writer.write("c")
        await writer.close()

    async with background(produce()) as tasks:  # a failing producer fails the test at once
        assert await read_all(ts.readable) == ["a", "b", "c", "!"]
        await tasks.tasks[0]


@both_loops
async def test_async_transform() -> None:
    async def transform(chunk: int, c: TransformStreamDefaultController) -> None:
        await rt.sleep(0)
        c.enqueue(chunk * 2)

    ts = TransformStream({"transform": transform})
    out = ReadableStream.from_([1, 2, 3]).pipe_through(ts)
    assert await read_all(out) == [2, 4, 6]


@both_loops
async def test_transform_rejection_errors_both_sides() -> None:
    def transform(chunk: Any, c: TransformStreamDefaultController) -> None:
        raise ValueError("bad")

    ts = TransformStream({"transform": transform})
    writer = ts.writable.get_writer()
    reader = default_reader(ts.readable)
    read = reader.read()
    await rejects(writer.write(1), ValueError)
    await rejects(read, ValueError)
    await rejects(writer.closed, ValueError)
    await rejects(reader.closed, ValueError)


@both_loops
async def test_flush_rejection_errors_both_sides() -> None:
    async def flush(c: TransformStreamDefaultController) -> None:
        raise OSError("flush")

    ts = TransformStream({"flush": flush})
    writer = ts.writable.get_writer()
    reader = default_reader(ts.readable)
    await rejects(writer.close(), OSError)
    await rejects(reader.closed, OSError)


@both_loops
async def test_controller_error_errors_both_sides() -> None:
    controllers: list[TransformStreamDefaultController] = []
    ts = TransformStream({"start": controllers.append})
    writer = ts.writable.get_writer()
    reader = default_reader(ts.readable)
    controllers[0].error(KeyError("k"))
    await rejects(reader.read(), KeyError)
    await rejects(writer.write(1), KeyError)


@both_loops
async def test_terminate_closes_readable_and_errors_writable() -> None:
    controllers: list[TransformStreamDefaultController] = []
    ts = TransformStream({"start": controllers.append})
    writer = ts.writable.get_writer()
    reader = default_reader(ts.readable)
    controllers[0].enqueue("last")
    controllers[0].terminate()
    assert (await reader.read()).value == "last"
    assert (await reader.read()).done
    await rejects(writer.write(1), TypeError)
    with pytest.raises(TypeError):
        controllers[0].enqueue("more")


@both_loops
async def test_cancelling_the_readable_errors_the_writable() -> None:
    ts = TransformStream()
    writer = ts.writable.get_writer()
    await ts.readable.cancel(ValueError("no more"))
    await rejects(writer.closed, ValueError)
    await rejects(writer.write(1), ValueError)


@both_loops
async def test_aborting_the_writable_errors_the_readable() -> None:
    ts = TransformStream()
    reader = default_reader(ts.readable)
    await ts.writable.abort(OSError("abort"))
    await rejects(reader.read(), OSError)


@both_loops
async def test_writes_wait_for_start() -> None:
    gate = rt.Event()
    seen: list[Any] = []

    async def start(c: TransformStreamDefaultController) -> None:
        await gate.wait()

    def transform(chunk: Any, c: TransformStreamDefaultController) -> None:
        seen.append(chunk)
        c.enqueue(chunk)

    ts = TransformStream({"start": start, "transform": transform})
    writer = ts.writable.get_writer()
    reader = default_reader(ts.readable)
    write = writer.write(1)
    read = reader.read()
    await settle()
    assert seen == []
    gate.set()
    assert (await read).value == 1
    await write


@both_loops
async def test_start_rejection_errors_both_sides() -> None:
    async def start(c: TransformStreamDefaultController) -> None:
        raise ValueError("start")

    ts = TransformStream({"start": start})
    await rejects(default_reader(ts.readable).closed, ValueError)
    await rejects(ts.writable.get_writer().closed, ValueError)


@both_loops
async def test_backpressure_holds_writes_until_the_readable_is_read() -> None:
    seen: list[Any] = []

    def transform(chunk: Any, c: TransformStreamDefaultController) -> None:
        seen.append(chunk)
        c.enqueue(chunk)

    ts = TransformStream({"transform": transform})  # writable hwm 1, readable hwm 0
    writer = ts.writable.get_writer()
    await settle()
    w1 = writer.write(1)
    await settle()
    assert seen == [] and not w1.done()  # the readable wants nothing yet
    assert writer.desired_size == 0
    reader = default_reader(ts.readable)
    assert (await reader.read()).value == 1
    await w1
    assert writer.desired_size == 1


@both_loops
async def test_strategies_size_both_sides() -> None:
    ts = TransformStream(None, CountQueuingStrategy(4), CountQueuingStrategy(2))
    writer = ts.writable.get_writer()
    await settle()
    for i in range(6):
        writer.write(i)
    await settle()
    # readable takes 2 (its mark), the writable holds up to its mark of 4 more
    assert ts.readable._controller.desired_size == 0
    assert writer.desired_size == 0
    assert await _take(ts.readable, 6) == [0, 1, 2, 3, 4, 5]


async def _take(stream: ReadableStream[Any], n: int) -> list[Any]:
    reader = default_reader(stream)
    out = [(await reader.read()).value for _ in range(n)]
    reader.release_lock()
    return out


@both_loops
async def test_desired_size_of_the_transform_controller() -> None:
    controllers: list[TransformStreamDefaultController] = []
    TransformStream({"start": controllers.append}, None, {"high_water_mark": 3})
    assert controllers[0].desired_size == 3
    controllers[0].enqueue(1)
    assert controllers[0].desired_size == 2
