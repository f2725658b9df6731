"""Which runtime the caller runs on: the asyncio loop itself, or unisock's trio runtime.

Looked up once where an object is made (a socket, a listener, a timer, a waiting task)
and stored on it; never per chunk.  asyncio is checked first with asyncio's own C
look-up, so on asyncio and uvloop finding the runtime costs what
``asyncio.get_running_loop()`` did.  trio is checked only when no asyncio loop runs
and trio is already imported (nobody runs ``trio.run`` without importing it).
"""

from __future__ import annotations

import socket
import sys
from asyncio import AbstractEventLoop, CancelledError
from asyncio.events import _get_running_loop
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Runtime

__all__ = [
    "CancelledError",
    "bounded",
    "checkpoint",
    "current",
    "is_asyncio",
    "running_loop",
    "running_trio",
    "sleep",
    "transport_now",
]

running_loop = _get_running_loop
"""The running asyncio loop or ``None`` (C, no exception): ``running_loop() or current()``
is the cheapest way to the runtime on a path that runs often."""


def current() -> Runtime:
    """The runtime of the calling task; ``RuntimeError`` outside async code."""
    loop = _get_running_loop()
    if loop is not None:
        return loop
    find = _trio_runtime
    if find is None:
        if running_trio() is None:
            raise RuntimeError("no running event loop (asyncio, uvloop or trio)")
        find = _load_trio()
    found = find()
    if found is None:
        raise RuntimeError("no running event loop (asyncio, uvloop or trio)")
    return found


_trio_runtime: Callable[[], Runtime | None] | None = None
"""``trio.running_runtime`` once a trio run has been seen: on trio, every socket and every
wait on a pending result looks its runtime up, and one ``RunVar`` read is all it takes."""


def _load_trio() -> Callable[[], Runtime | None]:
    global _trio_runtime
    from .trio import running_runtime

    _trio_runtime = running_runtime
    return running_runtime


def running_trio() -> Any:
    """The ``trio`` module when the caller runs under ``trio.run`` (and no asyncio loop
    runs in this thread), else ``None``."""
    if _get_running_loop() is not None:
        return None
    trio = sys.modules.get("trio")
    if trio is None:
        return None
    in_run = getattr(trio.lowlevel, "in_trio_run", None)
    if in_run is not None:
        return trio if in_run() else None
    try:  # trio before in_trio_run()
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None
    return trio


def transport_now(
    runtime: Any, protocol_factory: Callable[[], Any], sock: socket.socket
) -> tuple[Any, Any] | None:
    """``(transport, protocol)`` over a connected socket, made at once where the runtime
    can (trio: ``TrioRuntime.transport_of``); ``None`` on asyncio and uvloop, whose
    ``connect_accepted_socket`` must be awaited.

    Why: the accept path runs in a readiness callback, and on trio making the transport
    never waits: a task of its own (as the asyncio path needs) cost a task, a future and
    a done callback per accepted connection.  (A connecting client keeps its task: the
    time it spends ``connecting`` after the kernel's handshake is where an abort must
    still reset the connection.)"""
    make = getattr(runtime, "transport_of", None)
    return None if make is None else make(protocol_factory, sock)


def is_asyncio(runtime: Any) -> bool:
    """Whether ``runtime`` is an asyncio loop (stock or uvloop)."""
    return isinstance(runtime, AbstractEventLoop)


def checkpoint(runtime: Any) -> Any:
    """An awaitable that lets the other tasks run once (``asyncio.sleep(0)`` on asyncio)."""
    if isinstance(runtime, AbstractEventLoop):
        from asyncio import sleep

        return sleep(0)
    return runtime.checkpoint()


async def sleep(seconds: float) -> None:
    """``asyncio.sleep`` / ``trio.sleep``, for the runtime of the caller."""
    if _get_running_loop() is not None:
        from asyncio import sleep as asyncio_sleep

        await asyncio_sleep(seconds)
        return
    import trio

    await trio.sleep(seconds)


async def bounded(awaitable: Any, seconds: float) -> Any:
    """``await awaitable``, or ``TimeoutError`` after ``seconds`` (the wait is withdrawn),
    for the runtime of the caller."""
    if _get_running_loop() is not None:
        from asyncio import timeout

        async with timeout(seconds):
            return await awaitable
    import trio

    with trio.move_on_after(seconds):
        return await awaitable
    raise TimeoutError(f"no result in {seconds:g} s")
