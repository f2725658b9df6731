"""Helpers for the cases ported from the Web Platform Tests' ``streams/`` directory.

Each module keeps a ``Cases`` registry: ``@wpt("<WPT test title>")`` registers an
``async def`` case under the exact title of the WPT test it ports, and
``test_wpt = wpt.collect()`` turns the registry into one pytest test parametrized by
title (and loop), so a case's test id *is* its WPT title.  Cases the standard cannot
express in Python, or where unisock deviates on purpose, are listed in DEVIATIONS.md
and say so in their docstring.

The recording streams follow WPT's ``resources/recording-streams.js``: they log the
underlying source's or sink's calls in ``events`` (``"pull"``, ``"cancel", reason``;
``"write", chunk``, ``"close"``, ``"abort", reason``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from tests import rt

from test_streams_support import LOOPS, run
from unisock.streams import (
    ReadableStream,
    ReadableStreamDefaultController,
    WritableStream,
    WritableStreamDefaultController,
)

Case = Callable[[], Coroutine[Any, Any, None]]


class Cases:
    """The cases of one WPT file, by title."""

    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}

    def __call__(self, title: str) -> Callable[[Case], Case]:
        def register(fn: Case) -> Case:
            assert title not in self.cases, f"duplicate WPT title {title!r}"
            self.cases[title] = fn
            return fn

        return register

    def collect(self) -> Callable[[str, str], None]:
        cases = self.cases

        @pytest.mark.parametrize("loop_name", LOOPS)
        @pytest.mark.parametrize("title", list(cases), ids=list(cases))
        def test_wpt(title: str, loop_name: str) -> None:
            run(cases[title](), loop_name)

        return test_wpt


class Error1(Exception):
    """WPT's ``error1``."""


class Error2(Exception):
    """WPT's ``error2``."""


async def delay(ms: float) -> None:
    await rt.sleep(ms / 1000)


async def flush_async_events() -> None:
    """WPT's flushAsyncEvents: let every pending reaction run (a few loop passes)."""
    for _ in range(8):
        await rt.sleep(0)


async def rejects_with(awaitable: Awaitable[Any], expected: BaseException) -> None:
    """promise_rejects_exactly: ``awaitable`` fails with this very exception."""
    try:
        await awaitable
    except BaseException as exc:
        assert exc is expected, f"rejected with {exc!r}, expected {expected!r}"
    else:
        raise AssertionError(f"expected a rejection with {expected!r}")


async def rejects_type(awaitable: Awaitable[Any], exc_type: type[BaseException]) -> BaseException:
    """promise_rejects_js: ``awaitable`` fails with an exception of ``exc_type``."""
    with pytest.raises(exc_type) as info:
        await awaitable
    return info.value


def _member(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class RecordingReadable:
    """recordingReadableStream: a ReadableStream whose source logs pull and cancel."""

    def __init__(self, extras: Any = None, strategy: Any = None) -> None:
        self.events: list[Any] = []
        self.controller: ReadableStreamDefaultController | None = None
        start, pull, cancel = (_member(extras, n) for n in ("start", "pull", "cancel"))

        def on_start(c: ReadableStreamDefaultController) -> Any:
            self.controller = c
            return start(c) if start is not None else None

        def on_pull(c: ReadableStreamDefaultController) -> Any:
            self.events.append("pull")
            return pull(c) if pull is not None else None

        def on_cancel(reason: Any) -> Any:
            self.events.extend(["cancel", reason])
            return cancel(reason) if cancel is not None else None

        self.stream: ReadableStream[Any] = ReadableStream(
            {"start": on_start, "pull": on_pull, "cancel": on_cancel}, strategy
        )

    @property
    def c(self) -> ReadableStreamDefaultController:
        assert self.controller is not None
        return self.controller

    @property
    def events_without_pulls(self) -> list[Any]:
        return [e for e in self.events if e != "pull"]


class RecordingWritable:
    """recordingWritableStream: a WritableStream whose sink logs write, close and abort."""

    def __init__(self, extras: Any = None, strategy: Any = None) -> None:
        self.events: list[Any] = []
        self.controller: WritableStreamDefaultController | None = None
        start, write, close, abort = (
            _member(extras, n) for n in ("start", "write", "close", "abort")
        )

        def on_start(c: WritableStreamDefaultController) -> Any:
            self.controller = c
            return start(c) if start is not None else None

        def on_write(chunk: Any, c: WritableStreamDefaultController) -> Any:
            self.events.extend(["write", chunk])
            return write(chunk, c) if write is not None else None

        def on_close() -> Any:
            self.events.append("close")
            return close() if close is not None else None

        def on_abort(reason: Any) -> Any:
            self.events.extend(["abort", reason])
            return abort(reason) if abort is not None else None

        self.stream: WritableStream[Any] = WritableStream(
            {"start": on_start, "write": on_write, "close": on_close, "abort": on_abort},
            strategy,
        )


async def read_all(stream: ReadableStream[Any]) -> list[Any]:
    """readableStreamToArray."""
    return [chunk async for chunk in stream]


def never() -> asyncio.Future[None]:
    """A promise that never settles (``new Promise(() => {})``)."""
    return rt.future()
