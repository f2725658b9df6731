"""Byte streams and BYOB readers: the behaviours of WPT streams/readable-byte-streams."""

from __future__ import annotations

from typing import Any

import pytest
from tests import rt
from tests.conftest import background

from test_streams_support import both_loops, byob_reader, default_reader, rejects, settle
from unisock.streams import (
    ReadableByteStreamController,
    ReadableStream,
    ReadableStreamBYOBReader,
    ReadableStreamBYOBRequest,
)


class ByteSource:
    type = "bytes"

    def __init__(self, auto_allocate_chunk_size: int | None = None) -> None:
        self.controller: ReadableByteStreamController | None = None
        self.pulls = 0
        self.cancelled: list[Any] = []
        if auto_allocate_chunk_size is not None:
            self.auto_allocate_chunk_size = auto_allocate_chunk_size

    def start(self, controller: ReadableByteStreamController) -> None:
        self.controller = controller

    def pull(self, controller: ReadableByteStreamController) -> None:
        self.pulls += 1

    def cancel(self, reason: Any) -> None:
        self.cancelled.append(reason)

    @property
    def c(self) -> ReadableByteStreamController:
        assert self.controller is not None
        return self.controller


def make() -> tuple[ByteSource, ReadableStream[Any]]:
    source = ByteSource()
    return source, ReadableStream(source)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", ["text", 42, None, [1, 2]])
def test_enqueue_of_a_non_bytes_chunk_is_a_type_error_naming_chunk(chunk: Any) -> None:
    source, _ = make()
    with pytest.raises(TypeError, match="chunk"):
        source.c.enqueue(chunk)


def test_enqueue_of_an_empty_chunk_is_a_type_error() -> None:
    source, _ = make()
    with pytest.raises(TypeError, match="empty"):
        source.c.enqueue(b"")


def test_byte_stream_strategy_with_a_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="size"):
        ReadableStream({"type": "bytes"}, {"size": len})


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_bad_auto_allocate_chunk_size_is_a_type_error_naming_it(bad: Any) -> None:
    with pytest.raises(TypeError, match="auto_allocate_chunk_size"):
        ReadableStream({"type": "bytes", "auto_allocate_chunk_size": bad})


@both_loops
async def test_zero_length_view_is_rejected_with_type_error() -> None:
    _, stream = make()
    reader = byob_reader(stream)
    exc = await rejects(reader.read(bytearray(0)), TypeError)
    assert "view" in str(exc)


@both_loops
async def test_read_only_or_non_buffer_view_is_rejected_with_type_error() -> None:
    _, stream = make()
    reader = byob_reader(stream)
    assert "view" in str(await rejects(reader.read(b"abc"), TypeError))
    assert "view" in str(await rejects(reader.read(42), TypeError))


@both_loops
async def test_bad_min_is_rejected_naming_min() -> None:
    _, stream = make()
    reader = byob_reader(stream)
    assert "min" in str(await rejects(reader.read(bytearray(4), min=0), TypeError))
    assert "min" in str(await rejects(reader.read(bytearray(4), min=5), ValueError))


def test_byob_reader_constructor_needs_a_byte_stream() -> None:
    with pytest.raises(TypeError):
        ReadableStreamBYOBReader(ReadableStream())


def test_byob_reader_locks_the_stream() -> None:
    _, stream = make()
    byob_reader(stream)
    with pytest.raises(TypeError, match="locked"):
        stream.get_reader()
    with pytest.raises(TypeError, match="locked"):
        stream.get_reader(mode="byob")


# -- reading -------------------------------------------------------------------------------


@both_loops
async def test_default_reader_gets_enqueued_chunks_as_bytes() -> None:
    source, stream = make()
    source.c.enqueue(bytearray(b"ab"))
    source.c.enqueue(memoryview(b"cd"))
    reader = default_reader(stream)
    first = await reader.read()
    assert first.value == b"ab" and type(first.value) is bytes
    assert (await reader.read()).value == b"cd"
    pending = reader.read()
    source.c.enqueue(b"ef")
    assert (await pending).value == b"ef"


@both_loops
async def test_enqueued_bytes_are_copied_so_the_source_may_reuse_its_buffer() -> None:
    source, stream = make()
    buf = bytearray(b"abc")
    source.c.enqueue(buf)
    buf[:] = b"xyz"
    assert (await default_reader(stream).read()).value == b"abc"


@both_loops
async def test_byob_read_fills_the_callers_buffer_from_the_queue() -> None:
    source, stream = make()
    source.c.enqueue(b"hello")
    source.c.enqueue(b"world")
    reader = byob_reader(stream)
    buf = bytearray(8)
    result = await reader.read(buf)
    assert not result.done
    assert bytes(result.value) == b"hellowor"
    assert result.value.obj is buf  # the very buffer we passed, no copy
    rest = await reader.read(bytearray(8))
    assert bytes(rest.value) == b"ld"


@both_loops
async def test_byob_read_with_min_waits_for_enough_bytes() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    pending = reader.read(bytearray(6), min=4)
    source.c.enqueue(b"ab")
    await settle()
    assert not pending.done()
    source.c.enqueue(b"cdefgh")
    result = await pending
    assert bytes(result.value) == b"abcdef"
    assert (await default_read_rest(stream, reader)) == b"gh"


async def default_read_rest(stream: ReadableStream[Any], reader: ReadableStreamBYOBReader) -> bytes:
    result = await reader.read(bytearray(100))
    return bytes(result.value)


@both_loops
async def test_byob_request_gives_the_source_the_readers_buffer() -> None:
    source, stream = make()
    assert source.c.byob_request is None
    reader = byob_reader(stream)
    buf = bytearray(10)
    pending = reader.read(buf)
    request = source.c.byob_request
    assert isinstance(request, ReadableStreamBYOBRequest)
    assert request.view is not None and len(request.view) == 10
    request.view[:3] = b"abc"
    request.respond(3)
    result = await pending
    assert bytes(result.value) == b"abc" and result.value.obj is buf
    assert request.view is None  # a used request is invalidated
    with pytest.raises(TypeError):
        request.respond(1)
    assert source.c.byob_request is None


@both_loops
async def test_respond_validates_bytes_written() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    reader.read(bytearray(4))
    request = source.c.byob_request
    assert request is not None
    with pytest.raises(TypeError, match="bytes_written"):
        request.respond(0)  # 0 only on a closed stream
    with pytest.raises(ValueError, match="bytes_written"):
        request.respond(5)
    with pytest.raises(TypeError, match="bytes_written"):
        request.respond("1")  # type: ignore[arg-type]
    request.respond(4)


@both_loops
async def test_respond_with_new_view_fills_the_request() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    buf = bytearray(8)
    pending = reader.read(buf)
    request = source.c.byob_request
    assert request is not None and request.view is not None
    request.respond_with_new_view(request.view[:2])  # wrote in place
    assert bytes((await pending).value) == bytes(2)
    pending = reader.read(buf)
    request = source.c.byob_request
    assert request is not None
    request.respond_with_new_view(b"xyz")  # other memory: copied into the reader's buffer
    result = await pending
    assert bytes(result.value) == b"xyz" and result.value.obj is buf


@both_loops
async def test_respond_with_a_too_large_view_is_a_value_error() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    reader.read(bytearray(2))
    request = source.c.byob_request
    assert request is not None
    with pytest.raises(ValueError):
        request.respond_with_new_view(b"abc")


@both_loops
async def test_partial_respond_below_min_keeps_the_request_open() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    pending = reader.read(bytearray(4), min=3)
    request = source.c.byob_request
    assert request is not None and request.view is not None
    request.view[:1] = b"a"
    request.respond(1)
    assert not pending.done()
    request = source.c.byob_request
    assert request is not None and request.view is not None and len(request.view) == 3
    request.view[:2] = b"bc"
    request.respond(2)
    assert bytes((await pending).value) == b"abc"


@both_loops
async def test_close_with_pending_byob_read_gives_done_and_an_empty_view() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    buf = bytearray(4)
    pending = reader.read(buf)
    source.c.close()
    request = source.c.byob_request
    assert request is not None
    with pytest.raises(TypeError):
        request.respond(1)
    request.respond(0)
    result = await pending
    assert result.done and len(result.value) == 0 and result.value.obj is buf
    await reader.closed


@both_loops
async def test_byob_read_on_a_closed_stream_is_done_at_once() -> None:
    source, stream = make()
    source.c.close()
    reader = byob_reader(stream)
    result = await reader.read(bytearray(3))
    assert result.done and len(result.value) == 0


@both_loops
async def test_close_with_queued_bytes_waits_until_they_are_read() -> None:
    source, stream = make()
    source.c.enqueue(b"abc")
    source.c.close()
    reader = byob_reader(stream)
    assert bytes((await reader.read(bytearray(10))).value) == b"abc"
    assert (await reader.read(bytearray(10))).done
    await reader.closed


@both_loops
async def test_close_with_too_few_bytes_for_min_errors_the_read() -> None:
    source, stream = make()
    source.c.enqueue(b"ab")
    source.c.close()
    reader = byob_reader(stream)
    await rejects(reader.read(bytearray(4), min=3), TypeError)


@both_loops
async def test_close_during_a_partially_filled_min_read_is_a_type_error() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    pending = reader.read(bytearray(4), min=3)
    source.c.enqueue(b"a")
    with pytest.raises(TypeError):
        source.c.close()
    await rejects(pending, TypeError)
    await rejects(reader.closed, TypeError)


@both_loops
async def test_error_rejects_pending_byob_reads() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    pending = reader.read(bytearray(4))
    source.c.error(OSError("reset"))
    await rejects(pending, OSError)
    await rejects(reader.read(bytearray(1)), OSError)
    assert source.c.desired_size is None


@both_loops
async def test_cancel_resolves_pending_byob_reads_with_done() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    pending = reader.read(bytearray(4))
    await reader.cancel("bye")
    assert (await pending).done
    assert source.cancelled == ["bye"]


@both_loops
async def test_release_lock_rejects_pending_byob_reads_and_voids_the_request() -> None:
    source, stream = make()
    reader = byob_reader(stream)
    pending = reader.read(bytearray(4))
    request = source.c.byob_request
    assert request is not None
    reader.release_lock()
    await rejects(pending, TypeError)
    assert request.view is None
    assert source.c.byob_request is None
    source.c.enqueue(b"later")
    assert (await default_reader(stream).read()).value == b"later"


@both_loops
async def test_auto_allocate_offers_a_byob_request_to_default_reads() -> None:
    source = ByteSource(auto_allocate_chunk_size=16)
    stream: ReadableStream[Any] = ReadableStream(source)
    reader = default_reader(stream)
    pending = reader.read()
    request = source.c.byob_request
    assert request is not None and request.view is not None and len(request.view) == 16
    request.view[:2] = b"hi"
    request.respond(2)
    result = await pending
    assert result.value == b"hi" and type(result.value) is bytes


@both_loops
async def test_desired_size_counts_bytes() -> None:
    source = ByteSource()
    ReadableStream(source, {"high_water_mark": 10})
    assert source.c.desired_size == 10
    source.c.enqueue(b"abcd")
    assert source.c.desired_size == 6
    source.c.close()
    assert source.c.desired_size == 6
    source2, _ = make()
    source2.c.close()
    assert source2.c.desired_size == 0


@both_loops
async def test_pull_is_called_for_a_byob_read() -> None:
    source, stream = make()
    await settle()
    assert source.pulls == 0  # high-water mark 0: nothing wanted yet
    reader = byob_reader(stream)
    reader.read(bytearray(1))
    assert source.pulls == 1
    reader.release_lock()


@both_loops
async def test_async_for_over_a_byte_stream() -> None:
    source, stream = make()

    async def feed() -> None:
        for part in (b"a", b"bc", b"def"):
            source.c.enqueue(part)
            await rt.sleep(0)
        source.c.close()

    async with background(feed()) as tasks:  # a failing feed fails the test at once
        assert [c async for c in stream] == [b"a", b"bc", b"def"]
        await tasks.tasks[0]


@both_loops
async def test_internal_byte_stream_create() -> None:
    stream = ReadableStream._create(bytes_stream=True, high_water_mark=4)
    controller = stream._controller
    assert isinstance(controller, ReadableByteStreamController)
    controller.enqueue(b"xy")
    assert controller.desired_size == 2
    reader = byob_reader(stream)
    assert bytes((await reader.read(bytearray(5))).value) == b"xy"
