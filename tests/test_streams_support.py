"""Helpers shared by the streams tests (no tests here).

``both_loops`` turns an ``async def`` test into a plain one run on the stock loop and
on uvloop, bounded in time, failing if anything reached the loop's exception handler
("exception was never retrieved", a listener's error, ...).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop
from tests import rt

from unisock.streams import (
    ReadableStream,
    ReadableStreamBYOBReader,
    ReadableStreamDefaultController,
    ReadableStreamDefaultReader,
)

LOOPS = ["asyncio", "uvloop", "trio"]


def run(
    coro: Coroutine[Any, Any, Any],
    loop_name: str = "asyncio",
    *,
    timeout: float = 5.0,
    reported: list[dict[str, Any]] | None = None,
) -> Any:
    """Run ``coro`` on a fresh loop; fail on anything the loop's handler saw."""
    seen: list[dict[str, Any]] = [] if reported is None else reported
    if loop_name == "trio":
        return _run_on_trio(coro, timeout, seen, reported is None)
    factory = uvloop.new_event_loop if loop_name == "uvloop" else asyncio.new_event_loop

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: seen.append(ctx))
        try:
            return await rt.wait_for(coro, timeout)
        finally:
            gc.collect()
            await rt.sleep(0)

    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(main())
    if reported is None and seen:
        pytest.fail(f"the loop's exception handler was called: {seen!r}")
    return result


def both_loops(
    fn: Callable[[], Coroutine[Any, Any, None]],
) -> Callable[[str], None]:
    """Make ``async def test_x()`` a sync test parametrized over asyncio and uvloop."""

    def test(loop_name: str) -> None:
        run(fn(), loop_name)

    test.__name__ = fn.__name__
    test.__qualname__ = fn.__qualname__
    test.__doc__ = fn.__doc__
    return pytest.mark.parametrize("loop_name", LOOPS)(test)


def _run_on_trio(
    coro: Coroutine[Any, Any, Any], timeout: float, seen: list[dict[str, Any]], strict: bool
) -> Any:
    """``run`` under ``trio.run``, on unisock's trio runtime (the streams and ``Deferred``
    wait through whichever runtime runs them)."""
    import trio

    from unisock._runtime.trio import runtime

    async def main() -> Any:
        runtime().set_exception_handler(lambda _rt, ctx: seen.append(ctx))
        try:
            with trio.fail_after(timeout):
                return await coro
        finally:
            gc.collect()
            await trio.lowlevel.checkpoint()

    result = trio.run(main)
    if strict and seen:
        pytest.fail(f"the runtime's exception handler was called: {seen!r}")
    return result


def default_reader(stream: ReadableStream[Any]) -> ReadableStreamDefaultReader:
    reader = stream.get_reader()
    assert isinstance(reader, ReadableStreamDefaultReader)
    return reader


def byob_reader(stream: ReadableStream[Any]) -> ReadableStreamBYOBReader:
    reader = stream.get_reader(mode="byob")
    assert isinstance(reader, ReadableStreamBYOBReader)
    return reader


async def rejects(awaitable: Awaitable[Any], exc_type: type[BaseException]) -> BaseException:
    """Await ``awaitable`` and return the exception of ``exc_type`` it raised."""
    with pytest.raises(exc_type) as info:
        await awaitable
    return info.value


async def settle() -> None:
    """Give the loop a few turns (tasks woken by settled results run)."""
    for _ in range(5):
        await rt.sleep(0)


async def read_all(stream: ReadableStream[Any]) -> list[Any]:
    return [chunk async for chunk in stream]


class Source:
    """An underlying source that keeps its controller and records cancel reasons."""

    def __init__(self) -> None:
        self.controller: ReadableStreamDefaultController | None = None
        self.cancelled: list[Any] = []

    def start(self, controller: ReadableStreamDefaultController) -> None:
        self.controller = controller

    def cancel(self, reason: Any) -> None:
        self.cancelled.append(reason)

    @property
    def c(self) -> ReadableStreamDefaultController:
        assert self.controller is not None
        return self.controller
