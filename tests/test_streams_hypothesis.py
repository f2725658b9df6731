"""Stateful property tests: random interleavings of stream operations keep the invariants.

No chunk lost, duplicated or reordered; every pending result settles once the stream
is closed or errored; states only move forward.  The pipe, which needs a runtime, runs on
asyncio, uvloop and trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import uvloop
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests import rt

from unisock import Deferred
from unisock.abort import AbortController
from unisock.errors import AbortError
from unisock.streams import (
    CountQueuingStrategy,
    ReadableStream,
    ReadableStreamDefaultController,
    ReadableStreamDefaultReader,
    WritableStream,
)

T = TypeVar("T")

R_ORDER = {"readable": 0, "closed": 1, "errored": 1}
W_ORDER = {"writable": 0, "erroring": 1, "closed": 2, "errored": 2}
FAST = settings(max_examples=150, stateful_step_count=40, deadline=None)


class ReadableMachine(RuleBasedStateMachine):
    """enqueue / read / close / error / cancel / release, on a default stream."""

    def __init__(self) -> None:
        super().__init__()
        self.controllers: list[ReadableStreamDefaultController] = []
        self.stream: ReadableStream[Any] = ReadableStream(
            {"start": self.controllers.append}, CountQueuingStrategy(2)
        )
        self.c = self.controllers[0]
        self.reader: ReadableStreamDefaultReader | None = ReadableStreamDefaultReader(self.stream)
        self.next_chunk = 0
        self.enqueued: list[int] = []
        self.delivered: list[int] = []
        self.reads: list[Deferred[Any]] = []
        self.last_state = "readable"
        self.close_requested = False

    def _on_read(self, d: Deferred[Any]) -> None:
        if d.is_fulfilled():
            value, done = d.result()
            if not done:
                self.delivered.append(value)

    @rule()
    def enqueue(self) -> None:
        chunk = self.next_chunk
        self.next_chunk += 1
        try:
            self.c.enqueue(chunk)
        except TypeError:
            assert self.close_requested or self.stream._state != "readable"
        else:
            self.enqueued.append(chunk)

    @rule()
    def read(self) -> None:
        if self.reader is None:
            self.reader = ReadableStreamDefaultReader(self.stream)
        d = self.reader.read()
        self.reads.append(d)
        d.add_done_callback(self._on_read)

    @rule()
    def close(self) -> None:
        try:
            self.c.close()
        except TypeError:
            assert self.close_requested or self.stream._state != "readable"
        else:
            self.close_requested = True

    @rule()
    def error(self) -> None:
        self.c.error(ValueError("random error"))

    @rule()
    def cancel(self) -> None:
        d = self.reader.cancel("why") if self.reader is not None else self.stream.cancel("why")
        assert d.done()  # no async source cancel: settles at once

    @rule()
    def release(self) -> None:
        if self.reader is not None:
            self.reader.release_lock()
            self.reader = None

    @invariant()
    def chunks_in_order_without_loss_or_duplicates(self) -> None:
        assert self.delivered == self.enqueued[: len(self.delivered)]
        queued = list(self.stream._controller._queue)
        if self.stream._state == "readable":
            assert self.delivered + queued == self.enqueued

    @invariant()
    def states_move_forward(self) -> None:
        state = self.stream._state
        assert R_ORDER[state] >= R_ORDER[self.last_state]
        if self.last_state != "readable":
            assert state == self.last_state
        self.last_state = state

    @invariant()
    def pending_reads_settle_once_the_stream_is_done(self) -> None:
        if self.stream._state != "readable":
            assert all(d.done() for d in self.reads)
            if self.reader is not None:
                assert self.reader.closed.done()

    def teardown(self) -> None:
        if self.stream._state == "readable":
            self.c.error(ValueError("teardown"))
        assert all(d.done() for d in self.reads)


class WritableMachine(RuleBasedStateMachine):
    """write / close / abort, with a sink whose writes finish or fail when told."""

    def __init__(self) -> None:
        super().__init__()
        self.sink_pending: list[Deferred[None]] = []
        self.received: list[int] = []
        self.closes = 0
        self.aborts = 0
        self.stream: WritableStream[Any] = WritableStream._create(
            write=self._write, close=self._close, abort=self._abort, high_water_mark=2
        )
        self.writer = self.stream.get_writer()
        self.next_chunk = 0
        self.written: list[int] = []
        self.results: list[Deferred[None]] = []
        self.others: list[Deferred[None]] = []
        self.sync_sink = True
        self.last_state = "writable"

    def _write(self, chunk: int) -> Deferred[None] | None:
        self.received.append(chunk)
        if self.sync_sink:
            return None
        d: Deferred[None] = Deferred()
        self.sink_pending.append(d)
        return d

    def _close(self) -> None:
        self.closes += 1

    def _abort(self, reason: Any) -> None:
        self.aborts += 1

    @rule(sync=st.booleans())
    def sink_mode(self, sync: bool) -> None:
        self.sync_sink = sync

    @rule()
    def write(self) -> None:
        chunk = self.next_chunk
        self.next_chunk += 1
        self.written.append(chunk)
        self.results.append(self.writer.write(chunk))

    @rule()
    def close(self) -> None:
        self.others.append(self.writer.close())

    @rule()
    def abort(self) -> None:
        self.others.append(self.writer.abort("random abort"))

    @precondition(lambda self: bool(self.sink_pending))
    @rule(ok=st.booleans())
    def finish_a_sink_write(self, ok: bool) -> None:
        d = self.sink_pending.pop(0)
        if ok:
            d.resolve(None)
        else:
            d.reject(OSError("sink failed"))

    @invariant()
    def sink_sees_a_prefix_in_order(self) -> None:
        assert self.received == self.written[: len(self.received)]

    @invariant()
    def fulfilled_writes_are_a_prefix_of_what_the_sink_took(self) -> None:
        fulfilled = [d.is_fulfilled() for d in self.results]
        n = sum(fulfilled)
        assert fulfilled[:n] == [True] * n  # no hole: writes finish in order
        assert n <= len(self.received)

    @invariant()
    def states_move_forward(self) -> None:
        state = self.stream._state
        assert W_ORDER[state] >= W_ORDER[self.last_state]
        if W_ORDER[self.last_state] == 2:
            assert state == self.last_state
        self.last_state = state
        assert self.closes <= 1 and self.aborts <= 1 and self.closes + self.aborts <= 1

    @invariant()
    def everything_settles_once_done(self) -> None:
        if self.stream._state in ("closed", "errored"):
            assert all(d.done() for d in self.results + self.others)
            assert self.writer.closed.done()

    def teardown(self) -> None:
        while self.sink_pending:
            self.sink_pending.pop(0).resolve(None)
        if self.stream._state == "writable":
            self.writer.abort("teardown")
        while self.sink_pending:
            self.sink_pending.pop(0).resolve(None)
        assert all(d.done() for d in self.results + self.others)


class AsyncioDriver:
    """Runs the pipe machine's steps on an asyncio loop, one ``run_until_complete`` each."""

    def __init__(self, factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self.loop = factory()
        self.reported: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.reported.append(context))

    def run(self, step: Callable[[], Awaitable[T]]) -> T:
        async def call() -> T:
            return await step()

        return self.loop.run_until_complete(call())

    def outside(self, fn: Callable[[], T]) -> T:
        """``fn()`` between steps, with no loop running (the machine enqueues so)."""
        return fn()

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


class TrioDriver:
    """The same on trio, which has no ``run_until_complete``: a ``trio.run`` in a thread of
    its own takes each step (``trio.from_thread.run``).  What the asyncio machine does
    between steps runs in it too: no other thread may touch the runtime."""

    def __init__(self) -> None:
        self.reported: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        started = threading.Event()
        self.token: Any = None
        self.finish: Any = None

        async def serve() -> None:
            from unisock._runtime.trio import runtime

            runtime().set_exception_handler(lambda _rt, context: self.reported.append(context))
            self.token = trio.lowlevel.current_trio_token()
            self.finish = trio.Event()
            started.set()
            await self.finish.wait()

        def main() -> None:
            try:
                trio.run(serve)
            except BaseException as exc:  # seen by close(), in the test's thread
                self.failure = exc
            finally:
                started.set()

        self.thread = threading.Thread(target=main, name="trio pipe machine")
        self.thread.start()
        started.wait()
        if self.failure is not None:
            raise self.failure

    def run(self, step: Callable[[], Awaitable[T]]) -> T:
        async def call() -> T:
            return await step()

        return trio.from_thread.run(call, trio_token=self.token)

    def outside(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return trio.from_thread.run(call, trio_token=self.token)

    def close(self) -> None:
        trio.from_thread.run_sync(self.finish.set, trio_token=self.token)
        self.thread.join(10)
        assert not self.thread.is_alive(), "the trio run did not end"
        if self.failure is not None:
            raise self.failure


class PipeMachine(RuleBasedStateMachine):
    """A push source piped into a slow sink while the test enqueues, closes, errors, aborts."""

    make_driver: Callable[[], AsyncioDriver | TrioDriver] = staticmethod(
        lambda: AsyncioDriver(asyncio.new_event_loop)
    )

    def __init__(self) -> None:
        super().__init__()
        self.driver = self.make_driver()
        self.controllers: list[ReadableStreamDefaultController] = []
        self.source: ReadableStream[Any] = ReadableStream(
            {"start": self.controllers.append}, CountQueuingStrategy(3)
        )
        self.c = self.controllers[0]
        self.received: list[int] = []
        self.peak_sink_queue = 0

        async def write(chunk: int, controller: Any) -> None:
            self.peak_sink_queue = max(self.peak_sink_queue, len(self.dest._controller._queue))
            await rt.sleep(0)
            self.received.append(chunk)

        self.dest: WritableStream[Any] = WritableStream({"write": write}, CountQueuingStrategy(2))
        self.abort = AbortController()
        self.pipe = self._in_loop(lambda: self.source.pipe_to(self.dest, signal=self.abort.signal))
        self.enqueued: list[int] = []
        self.next_chunk = 0
        self.clean_close = True

    def _in_loop(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return self.driver.run(call)

    @rule(n=st.integers(1, 5))
    def enqueue(self, n: int) -> None:
        def enqueue() -> None:
            for _ in range(n):
                if not self.c._can_close_or_enqueue():
                    return
                self.c.enqueue(self.next_chunk)
                self.enqueued.append(self.next_chunk)
                self.next_chunk += 1

        self.driver.outside(enqueue)

    @rule(turns=st.integers(1, 4))
    def tick(self, turns: int) -> None:
        for _ in range(turns):
            self.driver.run(lambda: rt.sleep(0))

    @rule()
    def close_source(self) -> None:
        def close() -> None:
            if self.c._can_close_or_enqueue():
                self.c.close()

        self.driver.outside(close)

    @rule()
    def error_source(self) -> None:
        if self.source._state == "readable":
            self.clean_close = False
        self._in_loop(lambda: self.c.error(ValueError("source error")))

    @rule()
    def abort_pipe(self) -> None:
        if not self.pipe.done():
            self.clean_close = False
        self._in_loop(lambda: self.abort.abort("stop"))

    @invariant()
    def sink_sees_a_prefix_in_order(self) -> None:
        assert self.received == self.enqueued[: len(self.received)]
        assert self.peak_sink_queue <= 2

    def teardown(self) -> None:
        try:
            self.close_source()

            async def finish() -> None:
                # the pipe ends in the source's error or the abort's (a hang is a failure)
                with contextlib.suppress(ValueError, AbortError):
                    await rt.wait_for(_await(self.pipe), 5)

            self.driver.run(finish)
            assert self.pipe.done()
            if self.pipe.is_fulfilled():
                assert self.received == self.enqueued  # a clean close delivers everything
                assert self.dest._state == "closed"
            assert self.received == self.enqueued[: len(self.received)]
            assert not self.source.locked and not self.dest.locked
        finally:
            self.driver.close()
        assert not self.driver.reported, self.driver.reported


class UvloopPipeMachine(PipeMachine):
    make_driver = staticmethod(lambda: AsyncioDriver(uvloop.new_event_loop))


class TrioPipeMachine(PipeMachine):
    make_driver = staticmethod(TrioDriver)


async def _await(d: Deferred[Any]) -> Any:
    return await d


TestReadable = ReadableMachine.TestCase
TestReadable.settings = FAST
TestWritable = WritableMachine.TestCase
TestWritable.settings = FAST
TestPipe = PipeMachine.TestCase
TestPipe.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
TestPipeUvloop = UvloopPipeMachine.TestCase
TestPipeUvloop.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestPipeTrio = TrioPipeMachine.TestCase
TestPipeTrio.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
