"""tee() and ReadableStream.from_: WPT readable-streams/tee and from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tests import rt

from test_streams_support import Source, both_loops, default_reader, read_all, rejects, settle
from unisock.streams import (
    ReadableByteStreamController,
    ReadableStream,
)


@both_loops
async def test_both_branches_see_every_chunk() -> None:
    a, b = ReadableStream.from_(range(20)).tee()
    ra, rb = await rt.gather(read_all(a), read_all(b))
    assert ra == rb == list(range(20))


@both_loops
async def test_tee_locks_the_original() -> None:
    stream = ReadableStream.from_([1])
    stream.tee()
    assert stream.locked
    with pytest.raises(TypeError):
        stream.tee()


@both_loops
async def test_branches_can_be_read_at_different_paces() -> None:
    source = Source()
    a, b = ReadableStream[Any](source).tee()
    ra = default_reader(a)
    for i in range(5):
        source.c.enqueue(i)
    got_a = [(await ra.read()).value for _ in range(5)]
    source.c.close()
    assert got_a == [0, 1, 2, 3, 4]
    assert await read_all(b) == [0, 1, 2, 3, 4]
    assert (await ra.read()).done


@both_loops
async def test_cancelling_one_branch_lets_the_other_continue() -> None:
    source = Source()
    a, b = ReadableStream[Any](source).tee()
    await_cancel = a.cancel("only a")
    source.c.enqueue(1)
    source.c.close()
    assert await read_all(b) == [1]
    await await_cancel
    assert source.cancelled == []


@both_loops
async def test_cancelling_both_cancels_the_source_with_both_reasons() -> None:
    source = Source()
    a, b = ReadableStream[Any](source).tee()
    ca = a.cancel("ra")
    await settle()
    assert not ca.done()  # waits for the other branch, as the standard does
    cb = b.cancel("rb")
    await ca
    await cb
    assert source.cancelled == [["ra", "rb"]]


@both_loops
async def test_source_error_errors_both_branches() -> None:
    source = Source()
    a, b = ReadableStream[Any](source).tee()
    ra, rb = default_reader(a), default_reader(b)
    boom = ValueError("boom")
    source.c.error(boom)
    assert await rejects(ra.closed, ValueError) is boom
    assert await rejects(rb.read(), ValueError) is boom


@both_loops
async def test_source_error_after_one_branch_cancelled_settles_the_cancel() -> None:
    source = Source()
    a, b = ReadableStream[Any](source).tee()
    ca = a.cancel()
    source.c.error(OSError("x"))
    await ca
    await rejects(default_reader(b).closed, OSError)


@both_loops
async def test_tee_of_a_byte_stream_gives_byte_streams() -> None:
    controllers: list[ReadableByteStreamController] = []
    stream: ReadableStream[Any] = ReadableStream({"type": "bytes", "start": controllers.append})
    a, b = stream.tee()
    assert isinstance(a._controller, ReadableByteStreamController)
    controllers[0].enqueue(b"hi")
    controllers[0].close()
    assert await read_all(a) == [b"hi"]
    assert await read_all(b) == [b"hi"]


# -- from_ ------------------------------------------------------------------------------------


@both_loops
async def test_from_a_sync_iterable() -> None:
    assert await read_all(ReadableStream.from_([1, 2, 3])) == [1, 2, 3]
    assert await read_all(ReadableStream.from_(iter("ab"))) == ["a", "b"]


@both_loops
async def test_from_an_async_iterable() -> None:
    async def gen() -> AsyncIterator[int]:
        for i in range(3):
            await rt.sleep(0)
            yield i

    assert await read_all(ReadableStream.from_(gen())) == [0, 1, 2]


@both_loops
async def test_from_is_lazy() -> None:
    pulled: list[int] = []

    def gen() -> Iterator[int]:
        for i in range(100):
            pulled.append(i)
            yield i

    stream = ReadableStream.from_(gen())
    await settle()
    assert pulled == []
    assert (await default_reader(stream).read()).value == 0
    assert len(pulled) == 1


@both_loops
async def test_from_propagates_an_iterator_error() -> None:
    def gen() -> Iterator[int]:
        yield 1
        raise KeyError("it broke")

    reader = default_reader(ReadableStream.from_(gen()))
    assert (await reader.read()).value == 1
    await rejects(reader.read(), KeyError)

    async def agen() -> AsyncIterator[int]:
        raise OSError("async broke")
        yield 1

    await rejects(default_reader(ReadableStream.from_(agen())).read(), OSError)


@both_loops
async def test_cancel_closes_the_iterator() -> None:
    closed: list[str] = []

    def gen() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append("sync")

    stream = ReadableStream.from_(gen())
    reader = default_reader(stream)
    await reader.read()
    await reader.cancel()
    assert closed == ["sync"]

    async def agen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append("async")

    astream = ReadableStream.from_(agen())
    areader = default_reader(astream)
    await areader.read()
    await areader.cancel()
    assert closed == ["sync", "async"]


def test_from_a_non_iterable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="iterable"):
        ReadableStream.from_(42)  # type: ignore[arg-type]


def test_from_a_readable_stream_returns_it() -> None:
    stream: ReadableStream[Any] = ReadableStream()
    assert ReadableStream.from_(stream) is stream
