"""Ported from WPT streams/readable-byte-streams/general.any.js (the first part)."""

from __future__ import annotations

from typing import Any

import pytest
from wpt_support import Cases, Error1, flush_async_events, rejects_type, rejects_with

from unisock.streams import ReadableStream, ReadableStreamBYOBReader

wpt = Cases()


@wpt('getReader({mode: "byob"}) throws on non-bytes streams')
async def byob_on_default() -> None:
    with pytest.raises(TypeError):
        ReadableStream().get_reader("byob")


@wpt("ReadableStream with byte source can be constructed with no errors")
async def constructed() -> None:
    ReadableStream({"type": "bytes"}).get_reader("byob")


@wpt("ReadableStream with byte source: Construct and expect start and pull being called")
async def start_then_pull() -> None:
    seen: dict[str, Any] = {}

    def start(c: Any) -> None:
        seen["c"] = c
        seen["started"] = True

    def pull(c: Any) -> None:
        seen["started_before_pull"] = seen.get("started", False)
        seen["desired"] = seen["c"].desired_size

    ReadableStream({"type": "bytes", "start": start, "pull": pull}, {"high_water_mark": 256})
    await flush_async_events()
    assert seen["started_before_pull"] is True
    assert seen["desired"] == 256


@wpt("ReadableStream with byte source: start() throws an exception")
async def start_throws() -> None:
    def start(c: Any) -> None:
        raise Error1("start")

    with pytest.raises(Error1):
        ReadableStream({"type": "bytes", "start": start})


@wpt("ReadableStream with byte source: Construct with highWaterMark of 0")
async def hwm_zero() -> None:
    def pull(c: Any) -> None:
        raise AssertionError("pull() should not be called")

    ReadableStream({"type": "bytes", "pull": pull}, {"high_water_mark": 0})
    await flush_async_events()


@wpt("ReadableStream with byte source: desiredSize when closed")
async def desired_size_closed() -> None:
    def start(c: Any) -> None:
        assert c.desired_size == 10
        c.close()
        assert c.desired_size == 0

    ReadableStream({"type": "bytes", "start": start}, {"high_water_mark": 10})


@wpt("ReadableStream with byte source: desiredSize when errored")
async def desired_size_errored() -> None:
    def start(c: Any) -> None:
        assert c.desired_size == 10
        c.error()
        assert c.desired_size is None

    ReadableStream({"type": "bytes", "start": start}, {"high_water_mark": 10})


@wpt("ReadableStream with byte source: getReader(), then releaseLock()")
async def release_default() -> None:
    reader = ReadableStream({"type": "bytes"}).get_reader()
    reader.release_lock()
    await rejects_type(reader.closed, TypeError)


@wpt("ReadableStream with byte source: getReader() with mode set to byob, then releaseLock()")
async def release_byob() -> None:
    reader = ReadableStream({"type": "bytes"}).get_reader("byob")
    reader.release_lock()
    await rejects_type(reader.closed, TypeError)


@wpt(
    "ReadableStream with byte source: Test that closing a stream does not release a reader "
    "automatically"
)
async def close_keeps_reader() -> None:
    stream = ReadableStream({"type": "bytes", "start": lambda c: c.close()})
    reader = stream.get_reader()
    await reader.closed
    with pytest.raises(TypeError):
        stream.get_reader()


@wpt(
    "ReadableStream with byte source: Test that closing a stream does not release a BYOB reader "
    "automatically"
)
async def close_keeps_byob_reader() -> None:
    stream = ReadableStream({"type": "bytes", "start": lambda c: c.close()})
    reader = stream.get_reader("byob")
    await reader.closed
    with pytest.raises(TypeError):
        stream.get_reader("byob")


@wpt(
    "ReadableStream with byte source: Test that erroring a stream does not release a reader "
    "automatically"
)
async def error_keeps_reader() -> None:
    error1 = Error1("error1")
    stream = ReadableStream({"type": "bytes", "start": lambda c: c.error(error1)})
    reader = stream.get_reader()
    await rejects_with(reader.closed, error1)
    with pytest.raises(TypeError):
        stream.get_reader()


@wpt(
    "ReadableStream with byte source: Test that erroring a stream does not release a BYOB "
    "reader automatically"
)
async def error_keeps_byob_reader() -> None:
    error1 = Error1("error1")
    stream = ReadableStream({"type": "bytes", "start": lambda c: c.error(error1)})
    reader = stream.get_reader("byob")
    await rejects_with(reader.closed, error1)
    with pytest.raises(TypeError):
        stream.get_reader("byob")


@wpt("ReadableStream with byte source: Automatic pull() after start()")
async def automatic_pull() -> None:
    pulls: list[Any] = []
    stream = ReadableStream({"type": "bytes", "pull": pulls.append}, {"high_water_mark": 8})
    stream.get_reader()
    assert pulls == [], "no pull as start() just finished"
    await flush_async_events()
    assert len(pulls) == 1


@wpt("ReadableStream with byte source: Automatic pull() after start() and read()")
async def automatic_pull_after_read() -> None:
    pulls: list[Any] = []
    stream = ReadableStream({"type": "bytes", "pull": pulls.append}, {"high_water_mark": 0})
    stream.get_reader().read()
    assert pulls == [], "no pull as start() just finished"
    await flush_async_events()
    assert len(pulls) == 1


@wpt("ReadableStream with byte source: autoAllocateChunkSize")
async def auto_allocate() -> None:
    pulls: list[int] = []

    def pull(c: Any) -> None:
        request = c.byob_request
        assert request is not None and len(request.view) == 16
        if not pulls:
            request.view[0] = 0x01
            request.respond(1)
        elif len(pulls) == 1:
            request.view[0:2] = b"\x02\x03"
            request.respond(2)
        pulls.append(len(request.view) if request.view is not None else 0)

    stream = ReadableStream(
        {"type": "bytes", "pull": pull, "auto_allocate_chunk_size": 16}, {"high_water_mark": 0}
    )
    reader = stream.get_reader()
    p0, p1 = reader.read(), reader.read()
    assert pulls == []
    assert bytes((await p0).value) == b"\x01"
    assert bytes((await p1).value) == b"\x02\x03"
    await flush_async_events()
    assert len(pulls) == 2


@wpt("ReadableStream with byte source: Mix of auto allocate and BYOB")
async def auto_allocate_and_byob() -> None:
    views: list[int] = []

    def pull(c: Any) -> None:
        request = c.byob_request
        views.append(len(request.view))
        if len(views) == 1:
            request.view[0] = 0x01
            request.respond(1)
        elif len(views) == 2:
            request.view[0:2] = b"\x02\x03"
            request.respond(2)

    stream = ReadableStream(
        {"type": "bytes", "pull": pull, "auto_allocate_chunk_size": 16}, {"high_water_mark": 0}
    )
    reader = stream.get_reader()
    assert bytes((await reader.read()).value) == b"\x01"
    reader.release_lock()
    byob = stream.get_reader("byob")
    assert isinstance(byob, ReadableStreamBYOBReader)
    result = await byob.read(bytearray(32))
    assert bytes(result.value) == b"\x02\x03"
    assert views == [16, 32]


test_wpt = wpt.collect()
