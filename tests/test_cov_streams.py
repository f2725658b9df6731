"""Stream rules that mutation testing showed no test pinned down (issue 19): when
``ReadableStream.from_`` and ``tee()`` pull their source, and that cancelling a stream
made from an iterator closes the iterator.  On both loops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tests import rt

from unisock.streams import ReadableStream

pytestmark = pytest.mark.trio  # every test that takes `run` runs on trio too


async def settle(passes: int = 10) -> None:
    for _ in range(passes):
        await rt.sleep(0)


def test_from_pulls_nothing_until_read_and_cancel_closes_the_generator(run: Any) -> None:
    """``ReadableStream.from_`` has a high-water mark of 0 (the standard's
    ReadableStreamFromIterable): making the stream takes nothing from the iterator; each
    read takes one item; ``cancel()`` closes the generator (its ``finally`` runs)."""

    async def main() -> None:
        taken: list[int] = []
        closed: list[bool] = []

        def numbers() -> Iterator[int]:
            try:
                for i in range(10):
                    taken.append(i)
                    yield i
            finally:
                closed.append(True)

        generator = numbers()  # held here: closing it must not be left to the GC
        stream = ReadableStream.from_(generator)
        await settle()
        assert taken == []
        reader = stream.get_reader()
        assert (await reader.read()).value == 0
        await settle()
        assert taken == [0]  # no read ahead
        await reader.cancel("enough")
        assert closed == [True]
        assert (await reader.read()).done

    run(main)


def test_from_async_generator_cancel_runs_aclose(run: Any) -> None:
    async def main() -> None:
        closed: list[bool] = []

        async def numbers() -> AsyncIterator[int]:
            try:
                for i in range(10):
                    yield i
            finally:
                closed.append(True)

        generator = numbers()  # held here: closing it must not be left to the GC
        stream = ReadableStream.from_(generator)
        reader = stream.get_reader()
        assert (await reader.read()).value == 0
        await reader.cancel("enough")
        assert closed == [True]
        del generator

    run(main)


class CountingSource:
    """An underlying source that counts its pulls and gives one chunk per pull."""

    def __init__(self, byte_stream: bool) -> None:
        self.pulls = 0
        self.type = "bytes" if byte_stream else None

    def pull(self, controller: Any) -> None:
        self.pulls += 1
        controller.enqueue(b"x" * 4 if self.type else self.pulls)


def test_tee_of_a_default_stream_reads_one_chunk_ahead(run: Any) -> None:
    """A default stream's ``tee()`` branches have a high-water mark of 1: the source is
    pulled once at once, with nothing read from the branches yet."""

    async def main() -> None:
        source = CountingSource(byte_stream=False)
        stream = ReadableStream(source, {"high_water_mark": 0})
        await settle()
        assert source.pulls == 0
        a, b = stream.tee()
        await settle()
        assert source.pulls == 1
        reader = a.get_reader()
        assert (await reader.read()).value == 1
        assert (await b.get_reader().read()).value == 1

    run(main)


def test_tee_of_a_byte_stream_pulls_only_when_read(run: Any) -> None:
    """A byte stream's branches (ReadableByteStreamTee) have a high-water mark of 0: the
    source is not pulled until a branch is read."""

    async def main() -> None:
        source = CountingSource(byte_stream=True)
        stream = ReadableStream(source)
        a, b = stream.tee()
        await settle()
        assert source.pulls == 0
        assert (await a.get_reader().read()).value == b"xxxx"
        assert source.pulls == 1
        assert (await b.get_reader().read()).value == b"xxxx"

    run(main)


def test_cancel_of_an_async_iterator_without_aclose_is_fine(run: Any) -> None:
    """An async iterator that is not a generator may have no ``aclose()``: cancelling
    the stream made from it still resolves (the standard: return() is optional)."""

    class Countdown:
        def __init__(self) -> None:
            self.left = 3

        def __aiter__(self) -> Countdown:
            return self

        async def __anext__(self) -> int:
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            return self.left

    async def main() -> None:
        reader = ReadableStream.from_(Countdown()).get_reader()
        assert (await reader.read()).value == 2
        await reader.cancel("enough")
        assert (await reader.read()).done

    run(main)


class Pushed:
    """A readable stream the test feeds chunk by chunk (the stream stays open)."""

    def __init__(self) -> None:
        self.controller: Any = None
        self.stream = ReadableStream({"start": self._start})

    def _start(self, controller: Any) -> None:
        self.controller = controller

    def push(self, chunk: bytes) -> None:
        self.controller.enqueue(chunk)


def test_frame_reader_edges(run: Any) -> None:
    """FrameReader at its edges: a separator at the very start of the buffer is an
    empty frame; a line of exactly ``limit`` bytes fits and ``limit`` bytes without a
    separator is over the limit at once; ``read(1)`` and ``at_eof()`` answer as soon as
    one byte is there, without waiting for more."""
    from unisock.streams import FrameReader

    async def main() -> None:
        source = Pushed()
        frames = FrameReader(source.stream)
        source.push(b"\n\nabc\n")
        assert await frames.read_until(b"\n") == b"\n"
        assert await frames.read_line() == b"\n"
        assert await frames.read_until(b"\n", limit=4) == b"abc\n"  # exactly the limit
        source.push(b"\n")
        assert await frames.read_until(b"\n", limit=1) == b"\n"  # limit == separator
        source.push(b"abcd")
        with pytest.raises(ValueError, match="over the limit of 4 bytes"):
            await rt.wait_for(frames.read_until(b"\n", limit=4), 2)
        assert await rt.wait_for(frames.read(2), 2) == b"ab"
        assert await rt.wait_for(frames.read(5), 2) == b"cd"
        source.push(b"x")
        assert await rt.wait_for(frames.at_eof(), 2) is False
        assert await rt.wait_for(frames.read(1), 2) == b"x"
        source.push(b"y")
        assert await rt.wait_for(frames.read(10), 2) == b"y"
        source.controller.close()
        assert await rt.wait_for(frames.at_eof(), 2) is True

    run(main)


def test_a_busy_pipe_gives_the_loop_a_turn_and_stays_fast(run: Any) -> None:
    """A pipe whose source has its chunks queued already and whose destination accepts
    every write at once still lets other tasks run while it works (it gives the loop a
    turn every 64 chunks), and yields only now and then: 20,000 chunks in well under a
    second."""
    from unisock.streams import WritableStream

    async def main() -> None:
        got: list[int] = []
        ticks: list[int] = []

        def write(chunk: int, controller: Any) -> None:
            got.append(chunk)

        async def ticker() -> None:
            while True:
                ticks.append(len(got))
                await rt.sleep(0)

        ticking = rt.spawn(ticker())
        await rt.sleep(0)

        def start(controller: Any) -> None:
            for i in range(20_000):
                controller.enqueue(i)
            controller.close()

        source = ReadableStream({"start": start}, {"high_water_mark": 1_000_000})
        sink = WritableStream({"write": write}, {"high_water_mark": 1_000_000})
        await rt.wait_for(source.pipe_to(sink), 5)
        ticking.cancel()
        assert got == list(range(20_000))
        during = [n for n in ticks if 0 < n < 20_000]
        assert during, "the pipe never let another task run"

    run(main)


def test_a_chunk_of_size_zero_is_accepted(run: Any) -> None:
    """A queuing strategy may size a chunk 0 (the standard accepts any finite size >= 0):
    the write goes through, and the queue never fills."""
    from unisock.streams import WritableStream

    async def main() -> None:
        got: list[str] = []
        sink = WritableStream(
            {"write": lambda chunk, controller: got.append(chunk)},
            {"high_water_mark": 1, "size": lambda chunk: 0},
        )
        writer = sink.get_writer()
        await writer.write("weightless")
        assert writer.desired_size == 1
        await writer.close()
        assert got == ["weightless"]

    run(main)
