"""The CLI's few concurrency needs, on asyncio (and uvloop) or on trio alike.

unisock's sockets and streams run on either library (``--loop``); the subcommands need a
little more than they give: background jobs, sleeps, waiting for the first of several
results, a bounded wait, and a thread handing items to the loop.  This module is the one
place that asks which library runs; results are ``unisock.Deferred`` values, which both
can await.  ``run_on_trio`` starts a command under ``trio.run`` with the nursery the jobs
run in (asyncio's jobs are plain tasks).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .. import Deferred
from .._runtime import sleep

__all__ = [
    "Job",
    "JobCancelled",
    "cancelled_errors",
    "first",
    "loop_caller",
    "on_trio",
    "run_on_trio",
    "settle_within",
    "sleep",
    "spawn",
]

T = TypeVar("T")

_nursery: Any = None
"""The nursery of the running ``run_on_trio`` (one command per process)."""


class JobCancelled(Exception):
    """What awaiting a cancelled job raises (on either library)."""


def on_trio() -> bool:
    """Whether this runs under ``trio.run`` (trio is never imported to find out)."""
    trio = sys.modules.get("trio")
    return trio is not None and bool(trio.lowlevel.in_trio_run())


def cancelled_errors() -> tuple[type[BaseException], ...]:
    """What Ctrl-C or a cancellation raises in a command, for ``except``: asyncio's
    runner cancels the main task, trio raises ``KeyboardInterrupt`` in it."""
    trio = sys.modules.get("trio")
    if trio is None:
        return (asyncio.CancelledError, KeyboardInterrupt)
    return (asyncio.CancelledError, KeyboardInterrupt, trio.Cancelled)


class Job:
    """A coroutine running in the background: ``await job``, ``job.cancel()``."""

    __slots__ = ("_cancel", "result")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.result: Deferred[Any] = Deferred()
        if on_trio():
            import trio

            scope = trio.CancelScope()
            self._cancel: Callable[[], object] = scope.cancel
            _nursery.start_soon(self._run_in, scope, coro)
        else:
            task = asyncio.ensure_future(coro)
            self._cancel = task.cancel
            task.add_done_callback(self._settle_from)

    async def _run_in(self, scope: Any, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            with scope:
                try:
                    value = await coro
                except Exception as exc:
                    self.result.reject(exc)
                else:
                    self.result.resolve(value)
        finally:
            self.result.reject(JobCancelled())  # a no-op once settled

    def _settle_from(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self.result.reject(JobCancelled())
        elif (exc := task.exception()) is not None:
            self.result.reject(exc)
        else:
            self.result.resolve(task.result())

    def cancel(self) -> None:
        self._cancel()

    def done(self) -> bool:
        return self.result.done()

    def add_done_callback(self, callback: Callable[[Job], object]) -> None:
        self.result.add_done_callback(lambda _d: callback(self))

    def __await__(self) -> Any:
        return self.result.__await__()


def spawn(coro: Coroutine[Any, Any, Any]) -> Job:
    """Run ``coro`` in the background (cancelled, if still running, when the command ends)."""
    return Job(coro)


async def first(*results: Deferred[Any]) -> None:
    """Wait until at least one of ``results`` is settled (none of them is consumed)."""
    if any(r.done() for r in results):
        return
    any_done: Deferred[None] = Deferred()
    for r in results:
        r.add_done_callback(lambda _d: any_done.resolve(None))
    await any_done


async def settle_within(awaitable: Awaitable[Any], seconds: float) -> None:
    """Wait for ``awaitable`` to settle, at most ``seconds``; its outcome is dropped."""

    async def settled() -> None:
        with contextlib.suppress(Exception):
            await awaitable

    if on_trio():
        import trio

        with trio.move_on_after(seconds):
            await settled()
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled(), seconds)


def loop_caller() -> Callable[..., object]:
    """``call(fn, *args)`` from another thread runs ``fn(*args)`` on this loop; it raises
    ``RuntimeError`` once the loop is gone (nobody wants the item then)."""
    if on_trio():
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    return asyncio.get_running_loop().call_soon_threadsafe


EXIT_TERMINATED = 128 + signal.SIGTERM


def run_on_trio(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """``main()`` under ``trio.run``, with the nursery ``spawn`` uses; SIGTERM cancels it
    (cleanup runs) and makes the exit status 143.  ``main``'s own error is raised as it
    is, never inside an exception group."""
    import outcome
    import trio

    terminated = False

    async def watch_sigterm(scope: trio.CancelScope) -> None:
        nonlocal terminated
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                terminated = True
                scope.cancel()

    async def root() -> Any:
        global _nursery
        async with trio.open_nursery() as nursery:
            _nursery = nursery
            with trio.CancelScope() as main_scope:
                nursery.start_soon(watch_sigterm, main_scope)
                result = await outcome.acapture(main)
            nursery.cancel_scope.cancel()  # background jobs end with the command
        _nursery = None
        return result

    result = trio.run(root)
    if terminated:
        return EXIT_TERMINATED
    return int(result.unwrap())
