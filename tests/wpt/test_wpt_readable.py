"""Ported from WPT streams/readable-streams/general.any.js and cancel.any.js.

Where WPT asserts a pull count inside a promise reaction, the port lets the loop turn
first (``flush_async_events``): a synchronous pull counts as running until the next loop
pass here, where the standard settles it in a microtask (DEVIATIONS.md, "Timing").
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests import rt
from wpt_support import Cases, Error1, delay, flush_async_events, read_all, rejects_with

from unisock.streams import ReadableStream, ReadableStreamDefaultController

wpt = Cases()
C = ReadableStreamDefaultController


# -- general.any.js -------------------------------------------------------------------------


@wpt("ReadableStream can be constructed with no errors")
async def constructed() -> None:
    ReadableStream()
    ReadableStream({})
    ReadableStream({"type": None})
    ReadableStream(None)


@wpt("ReadableStream can't be constructed with an invalid type")
async def invalid_type() -> None:
    """Deviation: WPT expects RangeError; unisock raises TypeError (DEVIATIONS.md)."""
    for kind in ("", "asdf"):
        with pytest.raises(TypeError):
            ReadableStream({"type": kind})


@wpt("ReadableStream constructor should throw for non-function start arguments")
async def start_not_callable() -> None:
    with pytest.raises(TypeError):
        ReadableStream({"start": "potato"})


@wpt("ReadableStream constructor will not tolerate initial garbage as cancel argument")
async def cancel_garbage() -> None:
    with pytest.raises(TypeError):
        ReadableStream({"cancel": "2"})


@wpt("ReadableStream constructor will not tolerate initial garbage as pull argument")
async def pull_garbage() -> None:
    with pytest.raises(TypeError):
        ReadableStream({"pull": {}})


@wpt("ReadableStream start should be called with the proper parameters")
async def start_parameters() -> None:
    called: list[Any] = []

    class Source:
        def start(self, controller: C) -> None:
            assert self is source
            for name in ("close", "enqueue", "error"):
                assert callable(getattr(controller, name))
            assert controller.desired_size == 1
            called.append(controller)

    source = Source()
    ReadableStream(source)
    assert len(called) == 1


@wpt("default ReadableStream getReader() should only accept mode:undefined")
async def get_reader_mode() -> None:
    """Deviation: WPT expects RangeError for a bad mode; unisock raises TypeError."""
    ReadableStream().get_reader(None)
    with pytest.raises(TypeError):
        ReadableStream().get_reader("potato")


@wpt("ReadableStream should be able to call start method within prototype chain of its source")
async def start_inherited() -> None:
    started: list[C] = []

    class Base:
        def start(self, c: C) -> None:
            started.append(c)

    class SimpleStreamSource(Base):
        pass

    ReadableStream(SimpleStreamSource())
    assert len(started) == 1


@wpt("ReadableStream start should be able to return a promise")
async def start_returns_promise() -> None:
    async def start(c: C) -> None:
        await delay(5)
        c.enqueue("a")
        c.close()

    reader = ReadableStream({"start": start}).get_reader()
    assert tuple(await reader.read()) == ("a", False)
    await reader.closed


@wpt("ReadableStream start should be able to return a promise and reject it")
async def start_rejects() -> None:
    the_error = Error1("rejected!")

    async def start(c: C) -> None:
        await delay(1)
        raise the_error

    await rejects_with(ReadableStream({"start": start}).get_reader().closed, the_error)


@wpt("ReadableStream should be able to enqueue different objects.")
async def different_objects() -> None:
    objects = [{"potato": "Give me more!"}, "test", 1]

    def start(c: C) -> None:
        for o in objects:
            c.enqueue(o)
        c.close()

    reader = ReadableStream({"start": start}).get_reader()
    got = [await reader.read() for _ in objects]
    assert [r.value for r in got] == objects
    await reader.closed


@wpt("ReadableStream: if pull rejects, it should error the stream")
async def pull_rejects() -> None:
    error = Error1("pull failure")

    async def pull(c: C) -> None:
        raise error

    reader = ReadableStream({"pull": pull}).get_reader()
    await rejects_with(reader.read(), error)
    await rejects_with(reader.closed, error)


@wpt("ReadableStream: should only call pull once upon starting the stream")
async def pull_once_on_start() -> None:
    pulls: list[C] = []
    ReadableStream({"start": lambda c: None, "pull": pulls.append})
    await flush_async_events()
    assert len(pulls) == 1
    await delay(10)
    assert len(pulls) == 1


@wpt("ReadableStream: should call pull when trying to read from a started, empty stream")
async def pull_on_read_of_empty() -> None:
    pull_count = 0

    def pull(c: C) -> None:
        nonlocal pull_count
        if pull_count > 0:
            c.enqueue(pull_count)
        pull_count += 1

    rs = ReadableStream({"pull": pull})
    await flush_async_events()
    assert pull_count == 1, "pull should be called once start finishes"
    read = rs.get_reader().read()
    assert pull_count == 2, "pull should be called when read is called"
    result = await read
    await flush_async_events()
    assert pull_count == 3, "pull should be called again in reaction to calling read"
    assert tuple(result) == (1, False)


@wpt(
    "ReadableStream: should only call pull once on a non-empty stream read from before start "
    "fulfills"
)
async def pull_once_read_before_start() -> None:
    pulls: list[C] = []
    rs = ReadableStream({"start": lambda c: c.enqueue("a"), "pull": pulls.append})
    read = rs.get_reader().read()  # start is done only on the next loop pass
    assert pulls == [], "calling read() should not cause pull to be called yet"
    assert tuple(await read) == ("a", False)
    await flush_async_events()
    assert len(pulls) == 1
    await delay(10)
    assert len(pulls) == 1


@wpt(
    "ReadableStream: should only call pull once on a non-empty stream read from after start "
    "fulfills"
)
async def pull_once_read_after_start() -> None:
    pulls: list[C] = []
    rs = ReadableStream({"start": lambda c: c.enqueue("a"), "pull": pulls.append})
    await flush_async_events()
    assert pulls == [], "pull should not be called once start finishes, the queue is full"
    read = rs.get_reader().read()
    assert len(pulls) == 1, "calling read() should cause pull to be called immediately"
    assert tuple(await read) == ("a", False)
    await delay(10)
    assert len(pulls) == 1


@wpt("ReadableStream: should call pull in reaction to read()ing the last chunk, if not draining")
async def pull_after_last_chunk() -> None:
    pulls: list[C] = []
    controllers: list[C] = []
    rs = ReadableStream({"start": controllers.append, "pull": pulls.append})
    reader = rs.get_reader()
    await flush_async_events()
    assert len(pulls) == 1
    controllers[0].enqueue("a")
    assert len(pulls) == 1, "pull should not have been called again after enqueue"
    await reader.read()
    await flush_async_events()
    assert len(pulls) == 2
    await delay(10)
    assert len(pulls) == 2


@wpt("ReadableStream: should not call pull() in reaction to read()ing the last chunk, if draining")
async def no_pull_when_draining() -> None:
    pulls: list[C] = []
    controllers: list[C] = []
    rs = ReadableStream({"start": controllers.append, "pull": pulls.append})
    reader = rs.get_reader()
    await flush_async_events()
    assert len(pulls) == 1
    controllers[0].enqueue("a")
    controllers[0].close()
    await reader.read()
    await delay(10)
    assert len(pulls) == 1


@wpt("ReadableStream: should not call pull until the previous pull call's promise fulfills")
async def pull_waits_for_previous() -> None:
    times_called = 0
    gate = rt.Event()

    async def pull(c: C) -> None:
        nonlocal times_called
        times_called += 1
        c.enqueue(times_called)
        await gate.wait()

    reader = ReadableStream({"pull": pull}).get_reader()
    await flush_async_events()
    assert tuple(await reader.read()) == (1, False)
    assert times_called == 1
    await delay(10)
    assert times_called == 1, "after 10 ms, pull should still only have been called once"
    gate.set()
    await flush_async_events()
    assert times_called == 2


@wpt("ReadableStream: should pull after start, and after every read")
async def pull_after_every_read() -> None:
    pulls: list[C] = []

    def start(c: C) -> None:
        for chunk in "abc":
            c.enqueue(chunk)

    rs = ReadableStream(
        {"start": start, "pull": pulls.append},
        {"size": lambda chunk: 1, "high_water_mark": float("inf")},
    )
    reader = rs.get_reader()
    await flush_async_events()
    for expected in "abc":
        assert tuple(await reader.read()) == (expected, False)
        await flush_async_events()
    await delay(10)
    assert len(pulls) == 4, "once after start, and once for every read"


@wpt("ReadableStream: should not call pull after start if the stream is now closed")
async def no_pull_when_closed() -> None:
    pulls: list[C] = []

    def start(c: C) -> None:
        c.enqueue("a")
        c.close()

    reader = ReadableStream({"start": start, "pull": pulls.append}).get_reader()
    await flush_async_events()
    assert pulls == []
    await reader.read()
    assert pulls == []
    await reader.closed
    assert pulls == []


@wpt(
    "ReadableStream: should call pull after enqueueing from inside pull (with no read requests), "
    "if strategy allows"
)
async def pull_enqueue_until_full() -> None:
    times_called = 0

    def pull(c: C) -> None:
        nonlocal times_called
        times_called += 1
        c.enqueue(times_called)

    ReadableStream({"pull": pull}, {"size": lambda chunk: 1, "high_water_mark": 4})
    await delay(10)
    assert times_called == 4


@wpt("ReadableStream pull should be able to close a stream.")
async def pull_closes() -> None:
    called: list[bool] = []

    def pull(c: C) -> None:
        called.append(True)
        c.close()

    await ReadableStream({"pull": pull}).get_reader().closed
    assert called


@wpt("ReadableStream pull should be able to error a stream.")
async def pull_errors() -> None:
    controller_error = Error1("controller error")
    rs = ReadableStream({"pull": lambda c: c.error(controller_error)})
    await rejects_with(rs.get_reader().closed, controller_error)


@wpt("ReadableStream pull should be able to error a stream and throw.")
async def pull_errors_and_throws() -> None:
    controller_error, thrown_error = Error1("controller error"), Error1("thrown error")

    def pull(c: C) -> None:
        c.error(controller_error)
        raise thrown_error

    await rejects_with(ReadableStream({"pull": pull}).get_reader().closed, controller_error)


@wpt("ReadableStream: enqueue should throw when the stream is readable but draining")
async def enqueue_draining() -> None:
    def start(c: C) -> None:
        assert c.enqueue("a") is None
        c.close()
        with pytest.raises(TypeError):
            c.enqueue("b")

    ReadableStream({"start": start})


@wpt("ReadableStream: enqueue should throw when the stream is closed")
async def enqueue_closed() -> None:
    def start(c: C) -> None:
        c.close()
        with pytest.raises(TypeError):
            c.enqueue("a")

    ReadableStream({"start": start})


@wpt("ReadableStream: should call underlying source methods as methods")
async def methods_as_methods() -> None:
    calls: list[str] = []

    class Source:
        def start(self, c: C) -> None:
            assert self is the_source
            calls.append("start")
            c.enqueue("a")

        def pull(self, c: C) -> None:
            assert self is the_source
            calls.append("pull")

        def cancel(self, reason: Any) -> None:
            assert self is the_source
            calls.append("cancel")

    the_source = Source()
    rs = ReadableStream(the_source)
    reader = rs.get_reader()
    await reader.read()
    await flush_async_events()
    reader.release_lock()
    rs.cancel()
    assert calls == ["start", "pull", "cancel"]
    await rs.get_reader().closed


@wpt("ReadableStream: desiredSize when closed")
async def desired_size_closed() -> None:
    def start(c: C) -> None:
        assert c.desired_size == 10
        c.close()
        assert c.desired_size == 0

    ReadableStream({"start": start}, {"high_water_mark": 10})


@wpt("ReadableStream: desiredSize when errored")
async def desired_size_errored() -> None:
    def start(c: C) -> None:
        assert c.desired_size == 10
        c.error()
        assert c.desired_size is None

    ReadableStream({"start": start}, {"high_water_mark": 10})


@wpt("ReadableStream: ReadableStream is extendable")
async def extendable() -> None:
    class Extended(ReadableStream[Any]):
        def new_method(self) -> str:
            return "foo"

    assert Extended().new_method() == "foo"


@wpt(
    "ReadableStream strategies: the default strategy should give desiredSize of 1 to start, "
    "decreasing by 1 per enqueue"
)
async def default_strategy_decreasing() -> None:
    def start(c: C) -> None:
        for expected, chunk in zip((1, 0, -1, -2, -3), "abcde", strict=True):
            assert c.desired_size == expected
            c.enqueue(chunk)

    ReadableStream({"start": start})


@wpt(
    "ReadableStream strategies: the default strategy should continue giving desiredSize of 1 if "
    "the chunks are read immediately"
)
async def default_strategy_read_immediately() -> None:
    controllers: list[C] = []
    reader = ReadableStream({"start": controllers.append}).get_reader()
    c = controllers[0]
    for chunk in "abc":
        assert c.desired_size == 1
        c.enqueue(chunk)
        assert c.desired_size == 0
        assert tuple(await reader.read()) == (chunk, False)
    assert c.desired_size == 1


@wpt("ReadableStream integration test: adapting a sync pull source")
async def sync_pull_source() -> None:
    state = {"n": 0, "closed": False}

    def pull(c: C) -> None:
        state["n"] += 1
        if state["n"] > 10:
            state["closed"] = True
            c.close()
        else:
            c.enqueue(state["n"])

    assert await read_all(ReadableStream({"pull": pull})) == list(range(1, 11))
    assert state["closed"]


@wpt("ReadableStream integration test: adapting an async pull source")
async def async_pull_source() -> None:
    state = {"n": 0, "closed": False}

    async def pull(c: C) -> None:
        await rt.sleep(0)
        state["n"] += 1
        if state["n"] > 10:
            state["closed"] = True
            c.close()
        else:
            c.enqueue(state["n"])

    assert await read_all(ReadableStream({"pull": pull})) == list(range(1, 11))
    assert state["closed"]


# -- cancel.any.js --------------------------------------------------------------------------


@wpt(
    "ReadableStream cancellation: cancel(reason) should pass through the given reason to the "
    "underlying source"
)
async def cancel_passes_reason() -> None:
    recorded: list[Any] = []
    passed = Error1("Sorry, it just wasn't meant to be.")
    ReadableStream({"cancel": recorded.append}).cancel(passed)
    assert recorded == [passed]


@wpt(
    "ReadableStream cancellation: cancel() on a locked stream should fail and not call the "
    "underlying source cancel"
)
async def cancel_locked() -> None:
    def start(c: C) -> None:
        c.enqueue("a")
        c.close()

    def cancel(reason: Any) -> None:
        raise AssertionError("underlying source cancel() should not have been called")

    rs = ReadableStream({"start": start, "cancel": cancel})
    reader = rs.get_reader()
    with pytest.raises(TypeError):
        await rs.cancel()
    assert tuple(await reader.read()) == ("a", False)
    await reader.closed


@wpt("ReadableStream cancellation: should fulfill promise when cancel callback went fine")
async def cancel_fulfills() -> None:
    reason = Error1("I am tired of this stream")
    received: list[Any] = []
    assert await ReadableStream({"cancel": received.append}).cancel(reason) is None
    assert received == [reason]


@wpt(
    "ReadableStream cancellation: returning a value from the underlying source's cancel should "
    "not affect the fulfillment value of the promise returned by the stream's cancel"
)
async def cancel_return_value() -> None:
    assert await ReadableStream({"cancel": lambda reason: "Hello"}).cancel() is None


@wpt("ReadableStream cancellation: should reject promise when cancel callback raises an exception")
async def cancel_raises() -> None:
    thrown = Error1("test")

    def cancel(reason: Any) -> None:
        raise thrown

    await rejects_with(ReadableStream({"cancel": cancel}).cancel("test"), thrown)


@wpt(
    "ReadableStream cancellation: if the underlying source's cancel method returns a promise, "
    "the promise returned by the stream's cancel should fulfill when that one does (1)"
)
async def cancel_promise_1() -> None:
    reason = Error1("test")

    async def cancel(error: Any) -> None:
        assert error is reason
        await delay(1)

    await ReadableStream({"cancel": cancel}).cancel(reason)


@wpt(
    "ReadableStream cancellation: if the underlying source's cancel method returns a promise, "
    "the promise returned by the stream's cancel should fulfill when that one does (2)"
)
async def cancel_promise_2() -> None:
    fulfilled: list[bool] = []

    async def cancel(reason: Any) -> str:
        await delay(1)
        fulfilled.append(True)
        return "Hello"

    assert await ReadableStream({"cancel": cancel}).cancel() is None
    assert fulfilled == [True]


@wpt(
    "ReadableStream cancellation: if the underlying source's cancel method returns a promise, "
    "the promise returned by the stream's cancel should reject when that one does"
)
async def cancel_promise_rejects() -> None:
    error_in_cancel = Error1("Sorry, it just wasn't meant to be.")

    async def cancel(reason: Any) -> None:
        await delay(1)
        raise error_in_cancel

    await rejects_with(ReadableStream({"cancel": cancel}).cancel(), error_in_cancel)


@wpt(
    "ReadableStream cancellation: cancelling before start finishes should prevent pull() from "
    "being called"
)
async def cancel_before_start() -> None:
    never: asyncio.Future[None] = rt.future()

    def pull(c: C) -> None:
        raise AssertionError("pull should not have been called")

    rs = ReadableStream({"start": lambda c: never, "pull": pull})
    await rt.gather(rs.cancel(), rs.get_reader().closed)
    never.cancel()


@wpt(
    "ReadableStream cancellation: integration test on an infinite stream derived from a random "
    "push source"
)
async def cancel_push_source() -> None:
    loop = rt.runtime()
    state: dict[str, Any] = {"handle": None, "finished": False}

    def start(c: C) -> None:
        def tick() -> None:
            # Armed before the enqueue: the enqueue may pull at once, and that pull must
            # see a timer running (else a second chain of ticks starts, which cancel()
            # never stops, and it enqueues into the cancelled stream).
            state["handle"] = loop.call_later(0.001, tick)
            c.enqueue(bytes(128))

        state["tick"] = tick

    def pull(c: C) -> None:
        if state["handle"] is None:
            state["tick"]()

    def cancel(reason: Any) -> Any:
        # What runs before the first await of the JS async cancel() runs at once there;
        # a Python coroutine starts a loop pass later, when a tick may already have fired:
        # so the timer is stopped here, and only the wait is a coroutine.
        state["handle"].cancel()

        async def finish() -> None:
            await delay(1)
            state["finished"] = True

        return finish()

    rs = ReadableStream({"start": start, "pull": pull, "cancel": cancel})
    reader = rs.get_reader()

    async def cancel_later() -> None:
        await delay(15)
        cancel_promise = reader.cancel()
        assert not state["finished"], "cancellation in source should happen later"
        await cancel_promise

    canceller = rt.spawn(cancel_later())
    chunks = []
    while not (result := await reader.read()).done:
        chunks.append(result.value)
    await canceller
    assert state["finished"]
    assert chunks and all(len(chunk) == 128 for chunk in chunks)


test_wpt = wpt.collect()
