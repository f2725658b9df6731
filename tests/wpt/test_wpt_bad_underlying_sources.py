"""Ported from WPT streams/readable-streams/bad-underlying-sources.any.js."""

from __future__ import annotations

from typing import Any

import pytest
from wpt_support import Cases, Error1, Error2, flush_async_events, rejects_with

from unisock.streams import CountQueuingStrategy, ReadableStream, ReadableStreamDefaultController

wpt = Cases()
C = ReadableStreamDefaultController


class _ThrowingGetter:
    def __init__(self, name: str, error: BaseException) -> None:
        self.name, self.error = name, error

    def __getattr__(self, name: str) -> Any:
        if name == self.name:
            raise self.error
        raise AttributeError(name)


@wpt("Underlying source start: throwing getter")
async def start_throwing_getter() -> None:
    the_error = Error1("a unique string")
    with pytest.raises(Error1) as info:
        ReadableStream(_ThrowingGetter("start", the_error))
    assert info.value is the_error


@wpt("Underlying source start: throwing method")
async def start_throwing_method() -> None:
    the_error = Error1("a unique string")

    def start(c: C) -> None:
        raise the_error

    with pytest.raises(Error1) as info:
        ReadableStream({"start": start})
    assert info.value is the_error


@wpt("Underlying source: throwing pull getter (initial pull)")
async def pull_throwing_getter() -> None:
    the_error = Error1("a unique string")
    with pytest.raises(Error1) as info:
        ReadableStream(_ThrowingGetter("pull", the_error))
    assert info.value is the_error


@wpt("Underlying source: throwing pull method (initial pull)")
async def pull_throwing_method() -> None:
    the_error = Error1("a unique string")

    def pull(c: C) -> None:
        raise the_error

    await rejects_with(ReadableStream({"pull": pull}).get_reader().closed, the_error)


@wpt("Underlying source pull: throwing method (second pull)")
async def pull_throwing_second() -> None:
    the_error = Error1("a unique string")
    counter = 0

    def pull(c: C) -> None:
        nonlocal counter
        counter += 1
        if counter == 1:
            c.enqueue("a")
            return
        raise the_error

    reader = ReadableStream({"pull": pull}).get_reader()
    assert tuple(await reader.read()) == ("a", False)
    await rejects_with(reader.closed, the_error)


@wpt("Underlying source cancel: throwing getter")
async def cancel_throwing_getter() -> None:
    the_error = Error1("a unique string")
    with pytest.raises(Error1) as info:
        ReadableStream(_ThrowingGetter("cancel", the_error))
    assert info.value is the_error


@wpt("Underlying source cancel: throwing method")
async def cancel_throwing_method() -> None:
    the_error = Error1("a unique string")

    def cancel(reason: Any) -> None:
        raise the_error

    await rejects_with(ReadableStream({"cancel": cancel}).cancel(), the_error)


@wpt("Underlying source: calling enqueue on an empty canceled stream should throw")
async def enqueue_empty_canceled() -> None:
    controllers: list[C] = []
    rs = ReadableStream({"start": controllers.append})
    rs.cancel()
    with pytest.raises(TypeError):
        controllers[0].enqueue("a")
    await rs.get_reader().closed


@wpt("Underlying source: calling enqueue on a non-empty canceled stream should throw")
async def enqueue_nonempty_canceled() -> None:
    controllers: list[C] = []

    def start(c: C) -> None:
        c.enqueue("a")
        c.enqueue("b")
        controllers.append(c)

    rs = ReadableStream({"start": start})
    rs.cancel()
    with pytest.raises(TypeError):
        controllers[0].enqueue("c")
    await rs.get_reader().closed


@wpt("Underlying source: calling enqueue on a closed stream should throw")
async def enqueue_closed() -> None:
    def start(c: C) -> None:
        c.close()
        with pytest.raises(TypeError):
            c.enqueue("a")

    await ReadableStream({"start": start}).get_reader().closed


@wpt("Underlying source: calling enqueue on an errored stream should throw")
async def enqueue_errored() -> None:
    the_error = Error1("boo")

    def start(c: C) -> None:
        c.error(the_error)
        with pytest.raises(TypeError):
            c.enqueue("a")

    await rejects_with(ReadableStream({"start": start}).get_reader().closed, the_error)


@wpt("Underlying source: calling close twice on an empty stream should throw the second time")
async def close_twice_empty() -> None:
    def start(c: C) -> None:
        c.close()
        with pytest.raises(TypeError):
            c.close()

    await ReadableStream({"start": start}).get_reader().closed


@wpt("Underlying source: calling close twice on a non-empty stream should throw the second time")
async def close_twice_nonempty() -> None:
    def start(c: C) -> None:
        c.enqueue("a")
        c.close()
        with pytest.raises(TypeError):
            c.close()

    reader = ReadableStream({"start": start}).get_reader()
    assert tuple(await reader.read()) == ("a", False)
    await reader.closed


@wpt("Underlying source: calling close on an empty canceled stream should throw")
async def close_empty_canceled() -> None:
    controllers: list[C] = []
    rs = ReadableStream({"start": controllers.append})
    rs.cancel()
    with pytest.raises(TypeError):
        controllers[0].close()
    await rs.get_reader().closed


@wpt("Underlying source: calling close on a non-empty canceled stream should throw")
async def close_nonempty_canceled() -> None:
    controllers: list[C] = []

    def start(c: C) -> None:
        controllers.append(c)
        c.enqueue("a")

    rs = ReadableStream({"start": start})
    rs.cancel()
    with pytest.raises(TypeError):
        controllers[0].close()
    await rs.get_reader().closed


@wpt("Underlying source: calling close after error should throw")
async def close_after_error() -> None:
    the_error = Error1("boo")

    def start(c: C) -> None:
        c.error(the_error)
        with pytest.raises(TypeError):
            c.close()

    await rejects_with(ReadableStream({"start": start}).get_reader().closed, the_error)


@wpt("Underlying source: calling error twice should not throw")
async def error_twice() -> None:
    the_error = Error1("boo")

    def start(c: C) -> None:
        c.error(the_error)
        c.error()

    await rejects_with(ReadableStream({"start": start}).get_reader().closed, the_error)


@wpt("Underlying source: calling error after close should not throw")
async def error_after_close() -> None:
    def start(c: C) -> None:
        c.close()
        c.error()

    await ReadableStream({"start": start}).get_reader().closed


@wpt(
    "Underlying source: calling error and returning a rejected promise from start should cause "
    "the stream to error with the first error"
)
async def error_and_reject_from_start() -> None:
    first, second = Error1("1"), Error2("2")

    async def start(c: C) -> None:
        c.error(first)
        raise second

    await rejects_with(ReadableStream({"start": start}).get_reader().closed, first)


@wpt(
    "Underlying source: calling error and returning a rejected promise from pull should cause "
    "the stream to error with the first error"
)
async def error_and_reject_from_pull() -> None:
    first, second = Error1("1"), Error2("2")

    async def pull(c: C) -> None:
        c.error(first)
        raise second

    await rejects_with(ReadableStream({"pull": pull}).get_reader().closed, first)


@wpt("read should not error if it dequeues and pull() throws")
async def read_dequeues_and_pull_throws() -> None:
    error1 = Error1("error1")
    pull_should_throw = False

    def pull(c: C) -> None:
        if pull_should_throw:
            raise error1
        c.enqueue(0)

    rs = ReadableStream({"pull": pull}, CountQueuingStrategy(high_water_mark=1))
    reader = rs.get_reader()
    await flush_async_events()
    pull_should_throw = True
    assert tuple(await reader.read()) == (0, False)
    await rejects_with(reader.closed, error1)


test_wpt = wpt.collect()
