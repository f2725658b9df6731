"""Ported from WPT streams/readable-streams/tee.any.js (cases named by their WPT titles)."""

from __future__ import annotations

from typing import Any

from tests import rt
from wpt_support import (
    Cases,
    Error1,
    RecordingReadable,
    delay,
    flush_async_events,
    read_all,
    rejects_with,
)

from unisock.streams import ReadableStream, ReadableStreamDefaultController

wpt = Cases()


def _reader(stream: ReadableStream[Any]) -> Any:
    return stream.get_reader()


@wpt("ReadableStream teeing: rs.tee() returns an array of two ReadableStreams")
async def returns_two() -> None:
    result = ReadableStream().tee()
    assert isinstance(result, tuple) and len(result) == 2
    assert all(type(branch) is ReadableStream for branch in result)


@wpt("ReadableStream teeing: should be able to read one branch to the end without affecting the other")  # noqa: E501
async def one_branch_to_the_end() -> None:
    def start(c: ReadableStreamDefaultController) -> None:
        c.enqueue("a")
        c.enqueue("b")
        c.close()

    branch1, branch2 = ReadableStream({"start": start}).tee()
    reader1, reader2 = _reader(branch1), _reader(branch2)
    results = [reader1.read(), reader1.read(), reader1.read(), reader2.read()]
    assert [tuple(await r) for r in results] == [
        ("a", False), ("b", False), (None, True), ("a", False),
    ]
    await reader1.closed
    await flush_async_events()
    assert not reader2.closed.done(), "branch2 should not be closed"


@wpt("ReadableStream teeing: values should be equal across each branch")
async def values_equal() -> None:
    the_object = {"the": "test object"}
    branch1, branch2 = ReadableStream({"start": lambda c: c.enqueue(the_object)}).tee()
    r1, r2 = await rt.gather(_reader(branch1).read(), _reader(branch2).read())
    assert r1 == r2 and r1.value is the_object


@wpt("ReadableStream teeing: errors in the source should propagate to both branches")
async def errors_propagate() -> None:
    the_error = Error1("boo!")

    def start(c: ReadableStreamDefaultController) -> None:
        c.enqueue("a")
        c.enqueue("b")

    def pull(c: ReadableStreamDefaultController) -> None:
        raise the_error

    branch1, branch2 = ReadableStream({"start": start, "pull": pull}).tee()
    reader1, reader2 = _reader(branch1), _reader(branch2)
    first, second = reader1.read(), reader1.read()
    assert tuple(await first) == ("a", False), "should be able to read the first chunk in branch1"
    assert tuple(await second) == ("b", False), "should be able to read the second chunk in branch1"
    # WPT reads branch2 in a reaction that runs after the pull's rejection (a microtask);
    # here that rejection lands one loop pass after the read (see DEVIATIONS.md, timing).
    await flush_async_events()
    await rejects_with(reader2.read(), the_error)
    await rejects_with(reader1.read(), the_error)
    await rejects_with(reader1.closed, the_error)
    await rejects_with(reader2.closed, the_error)


def _ab_closed(c: ReadableStreamDefaultController) -> None:
    c.enqueue("a")
    c.enqueue("b")
    c.close()


@wpt("ReadableStream teeing: canceling branch1 should not impact branch2")
async def cancel_branch1() -> None:
    branch1, branch2 = ReadableStream({"start": _ab_closed}).tee()
    branch1.cancel()
    assert await read_all(branch1) == []
    assert await read_all(branch2) == ["a", "b"]


@wpt("ReadableStream teeing: canceling branch2 should not impact branch1")
async def cancel_branch2() -> None:
    branch1, branch2 = ReadableStream({"start": _ab_closed}).tee()
    branch2.cancel()
    assert await read_all(branch1) == ["a", "b"]
    assert await read_all(branch2) == []


@wpt("ReadableStream teeing: canceling both branches should aggregate the cancel reasons into an array")  # noqa: E501
async def aggregate_reasons() -> None:
    reason1, reason2 = Error1("We're wanted men."), Error1("I have the death sentence.")
    seen: list[Any] = []
    branch1, branch2 = ReadableStream({"cancel": seen.append}).tee()
    branch1.cancel(reason1)
    branch2.cancel(reason2)
    await flush_async_events()
    assert seen == [[reason1, reason2]]


@wpt(
    "ReadableStream teeing: canceling both branches in reverse order should aggregate the "
    "cancel reasons into an array"
)
async def aggregate_reasons_reverse() -> None:
    reason1, reason2 = Error1("not worth the effort"), Error1("let me get you something")
    seen: list[Any] = []
    branch1, branch2 = ReadableStream({"cancel": seen.append}).tee()
    await rt.gather(branch2.cancel(reason2), branch1.cancel(reason1))
    assert seen == [[reason1, reason2]]


@wpt(
    "ReadableStream teeing: failing to cancel the original stream should cause cancel() to "
    "reject on branches"
)
async def failing_cancel() -> None:
    the_error = Error1("I'll be careful.")

    def cancel(reason: Any) -> None:
        raise the_error

    branch1, branch2 = ReadableStream({"cancel": cancel}).tee()
    c1, c2 = branch1.cancel(), branch2.cancel()
    await rejects_with(c1, the_error)
    await rejects_with(c2, the_error)


@wpt("ReadableStream teeing: erroring a teed stream should properly handle canceled branches")
async def erroring_canceled_branches() -> None:
    the_error = Error1("You just watch yourself!")
    controllers: list[ReadableStreamDefaultController] = []
    branch1, branch2 = ReadableStream({"start": controllers.append}).tee()
    controllers[0].error(the_error)
    await rejects_with(branch1.cancel(), the_error)
    await rejects_with(branch2.cancel(), the_error)


@wpt("ReadableStream teeing: erroring a teed stream should error both branches")
async def erroring_errors_both() -> None:
    controllers: list[ReadableStreamDefaultController] = []
    branch1, branch2 = ReadableStream({"start": controllers.append}).tee()
    error = Error1("distinctive")
    controllers[0].enqueue(None)  # neither branch waits in a read: seen through closed
    controllers[0].enqueue(None)
    await delay(0)
    controllers[0].error(error)
    await rejects_with(_reader(branch1).closed, error)
    await rejects_with(_reader(branch2).closed, error)


@wpt("ReadableStream teeing: closing the original should immediately close the branches")
async def closing_closes_branches() -> None:
    controllers: list[ReadableStreamDefaultController] = []
    branch1, branch2 = ReadableStream({"start": controllers.append}).tee()
    reader1, reader2 = _reader(branch1), _reader(branch2)
    controllers[0].close()
    await rt.gather(reader1.closed, reader2.closed)


@wpt("ReadableStream teeing: erroring the original should immediately error the branches")
async def erroring_errors_branches() -> None:
    controllers: list[ReadableStreamDefaultController] = []
    branch1, branch2 = ReadableStream({"start": controllers.append}).tee()
    reader1, reader2 = _reader(branch1), _reader(branch2)
    the_error = Error1("boo!")
    controllers[0].error(the_error)
    await rejects_with(reader1.closed, the_error)
    await rejects_with(reader2.closed, the_error)


@wpt("ReadableStream teeing: canceling branch1 should finish when branch2 reads until end of stream")  # noqa: E501
async def cancel_finishes_at_end() -> None:
    controllers: list[ReadableStreamDefaultController] = []
    reader1, reader2 = (
        _reader(b) for b in ReadableStream({"start": controllers.append}).tee()
    )
    cancel_promise = reader2.cancel()
    controllers[0].enqueue("a")
    assert tuple(await reader1.read()) == ("a", False)
    controllers[0].close()
    assert tuple(await reader1.read()) == (None, True)
    await reader1.closed
    await cancel_promise


@wpt("ReadableStream teeing: canceling branch1 should finish when original stream errors")
async def cancel_finishes_on_error() -> None:
    controllers: list[ReadableStreamDefaultController] = []
    reader1, reader2 = (
        _reader(b) for b in ReadableStream({"start": controllers.append}).tee()
    )
    cancel_promise = reader2.cancel()
    the_error = Error1("boo!")
    controllers[0].error(the_error)
    await rejects_with(reader1.read(), the_error)
    await cancel_promise


@wpt("ReadableStream teeing: canceling both branches in sequence with delay")
async def cancel_both_with_delay() -> None:
    branch1, branch2 = ReadableStream({}).tee()
    cancel1 = branch1.cancel()
    await flush_async_events()
    cancel2 = branch2.cancel()
    await cancel1
    await cancel2


@wpt("ReadableStreamTee should not pull more chunks than can fit in the branch queue")
async def not_more_than_fits() -> None:
    rs = RecordingReadable({}, {"high_water_mark": 0})
    rs.stream.tee()  # two branches with a high-water mark of 1: one chunk pulled, not two
    await flush_async_events()
    assert rs.events == ["pull"]


@wpt("ReadableStreamTee should only pull enough to fill the emptiest queue")
async def fill_the_emptiest() -> None:
    rs = RecordingReadable({"pull": lambda c: c.enqueue("a")}, {"high_water_mark": 0})
    reader1, reader2 = (_reader(b) for b in rs.stream.tee())
    await rt.gather(reader1.read(), reader2.read())
    assert rs.events == ["pull", "pull"]


@wpt("ReadableStreamTee should not pull when original is already errored")
async def not_pull_when_errored() -> None:
    rs = RecordingReadable({}, {"high_water_mark": 0})
    the_error = Error1("boo!")
    rs.c.error(the_error)
    reader1, reader2 = (_reader(b) for b in rs.stream.tee())
    await flush_async_events()
    assert rs.events == []
    await rejects_with(reader1.closed, the_error)
    await rejects_with(reader2.closed, the_error)


def _stops_pulling(branch: int) -> Any:
    async def case() -> None:
        rs = RecordingReadable({}, {"high_water_mark": 0})
        the_error = Error1("boo!")
        reader1, reader2 = (_reader(b) for b in rs.stream.tee())
        await flush_async_events()
        assert rs.events == ["pull"]
        rs.c.enqueue("a")
        await (reader1 if branch == 1 else reader2).read()
        await flush_async_events()
        assert rs.events == ["pull", "pull"]
        rs.c.error(the_error)
        await rejects_with(reader1.closed, the_error)
        await rejects_with(reader2.closed, the_error)
        await flush_async_events()
        assert rs.events == ["pull", "pull"]

    return case


for _branch in (1, 2):
    wpt(
        f"ReadableStreamTee stops pulling when original stream errors while branch {_branch} "
        "is reading"
    )(_stops_pulling(_branch))


@wpt("ReadableStreamTee stops pulling when original stream errors while both branches are reading")
async def stops_pulling_both() -> None:
    rs = RecordingReadable({}, {"high_water_mark": 0})
    the_error = Error1("boo!")
    reader1, reader2 = (_reader(b) for b in rs.stream.tee())
    await flush_async_events()
    assert rs.events == ["pull"]
    rs.c.enqueue("a")
    await rt.gather(reader1.read(), reader2.read())
    await flush_async_events()
    assert rs.events == ["pull", "pull"]
    rs.c.error(the_error)
    await rejects_with(reader1.closed, the_error)
    await rejects_with(reader2.closed, the_error)
    await flush_async_events()
    assert rs.events == ["pull", "pull"]


test_wpt = wpt.collect()
