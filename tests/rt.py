"""Runtime-neutral test helpers: the few task and timing calls the tests need, the same
on asyncio, uvloop and trio, so one test body runs on all three (``@pytest.mark.trio``).

They dispatch on the runtime running the caller (``unisock._runtime.current()``); library
tasks and test tasks alike go through that runtime's ``create_task``, so on trio they run
in unisock's nursery and ``run_on`` still checks that none outlives the test.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from unisock._runtime import current, running_loop

T = TypeVar("T")

__all__ = [
    "Event",
    "cancelled_error",
    "exec_process",
    "future",
    "gather",
    "now",
    "on_trio",
    "sleep",
    "runtime",
    "sock_accept",
    "sock_connect",
    "sock_recv",
    "sock_sendall",
    "spawn",
    "to_thread",
    "wait_for",
]


def on_trio() -> bool:
    """Whether the caller runs under ``trio.run``."""
    return running_loop() is None


def _trio() -> Any:
    return sys.modules["trio"]


async def sleep(delay: float) -> None:
    if on_trio():
        await _trio().sleep(delay)
    else:
        await asyncio.sleep(delay)


def now() -> float:
    """The runtime's clock (``loop.time()`` on asyncio)."""
    return current().time()


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``asyncio.wait_for``: the result, or ``TimeoutError`` after ``timeout`` seconds
    (the wait is cancelled)."""
    if not on_trio():
        return await asyncio.wait_for(awaitable, timeout)
    trio = _trio()
    if timeout is None:
        return await awaitable
    with trio.move_on_after(timeout):
        return await awaitable
    # Raised outside any handler: no __context__ keeping the cancelled frames alive.
    raise TimeoutError


def spawn(awaitable: Awaitable[Any]) -> Any:
    """Start ``awaitable`` as a task (awaitable, ``cancel()``-able, ``done()``), as
    ``asyncio.ensure_future`` does (a coroutine, or anything awaitable)."""
    if not asyncio.iscoroutine(awaitable):
        awaitable = _awaiting(awaitable)
    return current().create_task(awaitable)


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def gather(*awaitables: Awaitable[Any]) -> list[Any]:
    """``asyncio.gather`` (first error propagates; the other tasks are cancelled)."""
    if not on_trio():
        return list(await asyncio.gather(*awaitables))
    tasks = [spawn(aw) for aw in awaitables]
    try:
        return [await task for task in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()


def Event() -> Any:
    """``asyncio.Event`` or ``trio.Event`` (both: ``set``, ``is_set``, ``wait``)."""
    return _trio().Event() if on_trio() else asyncio.Event()


def cancelled_error() -> type[BaseException]:
    """What a cancelled wait raises on the running runtime."""
    return _trio().Cancelled if on_trio() else asyncio.CancelledError


def future() -> Any:
    """A future of the running runtime (``loop.create_future()``)."""
    return current().create_future()


async def to_thread(fn: Callable[..., T], *args: Any) -> T:
    """``asyncio.to_thread`` (on trio the thread is abandoned if the wait is cancelled)."""
    if not on_trio():
        return await asyncio.to_thread(fn, *args)
    result: T = await _trio().to_thread.run_sync(fn, *args, abandon_on_cancel=True)
    return result


async def sock_sendall(sock: socket.socket, data: bytes) -> None:
    """``loop.sock_sendall`` on a non-blocking socket."""
    if not on_trio():
        await asyncio.get_running_loop().sock_sendall(sock, data)
        return
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            await _trio().lowlevel.wait_writable(sock)


async def sock_recv(sock: socket.socket, size: int) -> bytes:
    """``loop.sock_recv`` on a non-blocking socket."""
    if not on_trio():
        return await asyncio.get_running_loop().sock_recv(sock, size)
    while True:
        try:
            return sock.recv(size)
        except BlockingIOError:
            await _trio().lowlevel.wait_readable(sock)


async def sock_connect(sock: socket.socket, address: Any) -> None:
    """``loop.sock_connect`` on a non-blocking socket."""
    await current().sock_connect(sock, address)


async def exec_process(*argv: str, **kwargs: Any) -> Any:
    """``asyncio.create_subprocess_exec``; on trio a ``subprocess.Popen`` whose pipes are
    used from threads, with the subset of ``asyncio.subprocess.Process`` the tests use
    (``stdin.write/drain/close``, ``stdout.readline``, ``communicate``, ``wait``, ``kill``,
    ``returncode``)."""
    if not on_trio():
        return await asyncio.create_subprocess_exec(*argv, **kwargs)
    return _ThreadedProcess(subprocess.Popen(argv, **kwargs))  # noqa: ASYNC220 - a spawn, not a wait


class _ThreadedStdin:
    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    def write(self, data: bytes) -> None:
        self._pipe.write(data)
        self._pipe.flush()  # small writes into a pipe: the kernel takes them at once

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self._pipe.close()


class _ThreadedStdout:
    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    async def readline(self) -> bytes:
        return await to_thread(self._pipe.readline)

    async def read(self, n: int = -1) -> bytes:
        return await to_thread(self._pipe.read, n)


class _ThreadedProcess:
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdin = _ThreadedStdin(popen.stdin) if popen.stdin is not None else None
        self.stdout = _ThreadedStdout(popen.stdout) if popen.stdout is not None else None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    async def communicate(self, input: bytes | None = None) -> tuple[Any, Any]:
        popen = self._popen
        if popen.stdin is not None and popen.stdin.closed:
            popen.stdin = None  # closed by the test: Popen.communicate must not flush it
        return await to_thread(popen.communicate, input)

    async def wait(self) -> int:
        code = await to_thread(self._popen.wait)
        for pipe in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            if pipe is not None:
                pipe.close()
        return code

    def kill(self) -> None:
        self._popen.kill()

    def terminate(self) -> None:
        self._popen.terminate()


def runtime() -> Any:
    """The running runtime: the asyncio loop itself, or unisock's trio runtime (both have
    ``time``, ``call_soon``, ``create_future``, ``add_reader``, ``sock_connect``,
    ``set_exception_handler``)."""
    return current()


async def sock_accept(sock: socket.socket) -> tuple[socket.socket, Any]:
    """``loop.sock_accept`` on a non-blocking listening socket."""
    if not on_trio():
        return await asyncio.get_running_loop().sock_accept(sock)
    while True:
        try:
            conn, addr = sock.accept()
        except BlockingIOError:
            await _trio().lowlevel.wait_readable(sock)
        else:
            conn.setblocking(False)
            return conn, addr
