"""unisock's runtime on trio: the loop services of ``base.Runtime`` over trio's primitives.

One ``TrioRuntime`` per ``trio.run`` (a ``RunVar``), made on first use.  It starts one
system task that owns a nursery: every task the library spawns (a connect, a body, a
connection's reader, an accept watcher) runs in it, inside a cancel scope of its own, so
the socket or listener that spawned it cancels it when it closes, and ``trio.run``
cancels whatever is left when the main task ends.  Callbacks (``call_soon``) and timers
(``call_at``) run in that same service task, in order, as asyncio runs them.

Futures are awaited with ``wait_task_rescheduled``: cancelling the waiting task cancels
the future (its ``cancel()`` runs, so a pending socket read is withdrawn and no chunk is
lost), exactly as asyncio cancels the future a cancelled task waits on.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import socket
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

import trio

from .trio_stream import TrioStreamTransport

__all__ = ["TrioFuture", "TrioHandle", "TrioRuntime", "TrioTask", "running_runtime", "runtime"]

T = TypeVar("T")

_PENDING = 0
_FULFILLED = 1
_REJECTED = 2
_CANCELLED = 3

_SUCCEEDED = trio.lowlevel.Abort.SUCCEEDED
_reschedule = trio.lowlevel.reschedule
_current_task = trio.lowlevel.current_task
_wait_task_rescheduled = trio.lowlevel.wait_task_rescheduled

logger = logging.getLogger("unisock")


class TrioHandle:
    """A callback scheduled with ``call_soon``/``call_at``; ``cancel()`` drops it."""

    __slots__ = ("_args", "_callback", "_cancelled", "_runtime", "_when")

    def __init__(
        self,
        runtime: TrioRuntime,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        when: float | None = None,
    ) -> None:
        self._runtime = runtime
        self._callback: Callable[..., object] | None = callback
        self._args: tuple[Any, ...] | None = args
        self._cancelled = False
        self._when = when

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            self._callback = self._args = None  # drop references at once
            if self._when is not None:
                self._runtime._timer_cancelled()

    def cancelled(self) -> bool:
        return self._cancelled

    def when(self) -> float:
        assert self._when is not None
        return self._when

    def _run(self) -> None:
        callback, args = self._callback, self._args
        if callback is None or args is None:
            return
        try:
            callback(*args)
        except Exception as exc:
            self._runtime.call_exception_handler(
                {"message": f"Exception in callback {callback!r}", "exception": exc}
            )


class TrioFuture:
    """asyncio's ``Future`` surface for trio tasks: settle once, await from any task.

    Done callbacks run on the next pass of the runtime (as asyncio's do).  A task
    cancelled while it awaits cancels the future, which wakes the other waiters.
    """

    __slots__ = ("_callbacks", "_loop", "_state", "_value", "_waiters")

    def __init__(self, *, loop: TrioRuntime | None = None) -> None:
        self._loop = loop if loop is not None else runtime()
        self._state = _PENDING
        self._value: Any = None
        self._callbacks: list[Callable[[Any], object]] | None = None
        self._waiters: list[Any] | None = None

    def get_loop(self) -> TrioRuntime:
        return self._loop

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> Any:
        state = self._state
        if state == _FULFILLED:
            return self._value
        if state == _REJECTED:
            raise self._value
        if state == _CANCELLED:
            raise trio_cancelled_error()
        raise _invalid_state("the result is not ready yet")

    def exception(self) -> BaseException | None:
        state = self._state
        if state == _CANCELLED:
            raise trio_cancelled_error()
        if state == _PENDING:
            raise _invalid_state("the exception is not set yet")
        return self._value if state == _REJECTED else None

    def set_result(self, result: Any, /) -> None:
        if self._state != _PENDING:
            raise _invalid_state("the future is already done")
        self._state = _FULFILLED
        self._value = result
        self._settled()

    def set_exception(self, exception: type | BaseException, /) -> None:
        if self._state != _PENDING:
            raise _invalid_state("the future is already done")
        if isinstance(exception, type):
            exception = exception()
        self._state = _REJECTED
        self._value = exception
        self._settled()

    def cancel(self, msg: Any | None = None) -> bool:
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._settled()
        return True

    def _settled(self) -> None:
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for task in waiters:
                _reschedule(task)
        callbacks = self._callbacks
        if callbacks is not None:
            self._callbacks = None
            call_soon = self._loop.call_soon
            for callback in callbacks:
                call_soon(callback, self)

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None:
        if self._state != _PENDING:
            self._loop.call_soon(fn, self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def remove_done_callback(self, fn: Callable[[Any], object], /) -> int:
        callbacks = self._callbacks
        if not callbacks:
            return 0
        kept = [cb for cb in callbacks if cb != fn]
        self._callbacks = kept or None
        return len(callbacks) - len(kept)

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state == _PENDING:
            task = _current_task()
            if self._waiters is None:
                self._waiters = [task]
            else:
                self._waiters.append(task)

            def abort(_: Any) -> trio.lowlevel.Abort:
                # The waiting task is cancelled: withdraw it, then cancel the future (a
                # pending read is withdrawn by its cancel()), as asyncio does.
                waiters = self._waiters
                if waiters is not None and task in waiters:
                    waiters.remove(task)
                self.cancel()
                return _SUCCEEDED

            yield from _wait_task_rescheduled(abort).__await__()
        return self.result()

    __iter__ = __await__

    def __repr__(self) -> str:
        state = ("pending", "finished", "finished", "cancelled")[self._state]
        return f"<{type(self).__name__} {state}>"


class TrioTask(TrioFuture):
    """A coroutine run in the runtime's nursery, in a cancel scope of its own."""

    __slots__ = ("_coro", "_name", "_scope")

    def __init__(self, runtime: TrioRuntime, coro: Coroutine[Any, Any, Any]) -> None:
        super().__init__(loop=runtime)
        self._coro: Coroutine[Any, Any, Any] | None = coro
        self._name = getattr(coro, "__qualname__", "task")
        self._scope = trio.CancelScope()

    def cancel(self, msg: Any | None = None) -> bool:
        if self._state != _PENDING:
            return False
        self._scope.cancel()
        if self._coro is not None and not self._loop._running(self):
            # Never started: it never will.
            self._coro.close()
            self._coro = None
            self._loop._tasks.discard(self)
            TrioFuture.cancel(self)
        return True

    def set_result(self, result: Any, /) -> None:
        raise RuntimeError("a task's result is set by its coroutine")

    def set_exception(self, exception: type | BaseException, /) -> None:
        raise RuntimeError("a task's exception is set by its coroutine")

    @trio.lowlevel.enable_ki_protection
    async def _run(self) -> None:
        # Library work: Ctrl-C must not land inside it (it would be kept on the task as
        # its error and lost); with KI protection trio delivers it to the main task.
        coro, self._coro = self._coro, None
        if coro is None:  # cancelled before it started
            return
        runtime = self._loop
        runtime._started.add(self)
        try:
            with self._scope:
                try:
                    value = await coro
                except trio.Cancelled:
                    TrioFuture.cancel(self)
                    raise
                except BaseException as exc:  # kept on the task, as asyncio keeps it
                    if self._state == _PENDING:
                        self._state = _REJECTED
                        self._value = exc
                        self._settled()
                else:
                    if self._state == _PENDING:
                        self._state = _FULFILLED
                        self._value = value
                        self._settled()
        finally:
            runtime._started.discard(self)
            runtime._tasks.discard(self)
            if self._state == _PENDING:
                TrioFuture.cancel(self)

    def __repr__(self) -> str:
        return f"<TrioTask {self._name} {super().__repr__()}>"


class TrioRuntime:
    """The loop services on trio (see ``base.Runtime``): one per ``trio.run``."""

    def __init__(self) -> None:
        self._ready: deque[TrioHandle] = deque()
        self._timers: list[tuple[float, int, TrioHandle]] = []
        self._cancelled_timers = 0
        self._seq = itertools.count()
        self._nursery: trio.Nursery | None = None
        self._early: list[TrioTask] | None = []
        self._ended = False
        self._parked: Any = None  # the service task, while it waits for work
        self._park_scope: trio.CancelScope | None = None
        self._tasks: set[TrioTask] = set()  # spawned and not finished
        self._started: set[TrioTask] = set()  # running in the nursery
        self._watchers: dict[tuple[int, int], TrioTask] = {}
        self._exception_handler: Callable[[Any, dict[str, Any]], object] | None = None

    def _start(self) -> None:
        trio.lowlevel.spawn_system_task(self._serve, name="unisock runtime")

    # -- the clock and callbacks ------------------------------------------------------
    def time(self) -> float:
        return trio.current_time()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> TrioHandle:
        handle = TrioHandle(self, callback, args)
        self._ready.append(handle)
        parked = self._parked
        if parked is not None:
            self._parked = None
            _reschedule(parked)
        return handle

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TrioHandle:
        handle = TrioHandle(self, callback, args, when)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        scope = self._park_scope
        if scope is not None and when < scope.deadline:
            scope.deadline = when
        return handle

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TrioHandle:
        return self.call_at(trio.current_time() + delay, callback, *args)

    def _timer_cancelled(self) -> None:
        self._cancelled_timers += 1
        timers = self._timers
        if self._cancelled_timers > 100 and self._cancelled_timers * 2 > len(timers):
            self._timers = [t for t in timers if not t[2]._cancelled]
            heapq.heapify(self._timers)
            self._cancelled_timers = 0

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        handler = self._exception_handler
        if handler is not None:
            try:
                handler(self, context)
                return
            except Exception:
                logger.exception("unisock: the exception handler failed")
        exc = context.get("exception")
        logger.error("%s", context.get("message", "unhandled exception"), exc_info=exc or False)

    def set_exception_handler(
        self, handler: Callable[[Any, dict[str, Any]], object] | None
    ) -> None:
        """Where errors nobody can catch go (asyncio's hook; logged when unset)."""
        self._exception_handler = handler

    # -- futures and tasks ------------------------------------------------------------
    def create_future(self) -> TrioFuture:
        return TrioFuture(loop=self)

    def create_task(self, coro: Coroutine[Any, Any, T]) -> TrioTask:
        task = TrioTask(self, coro)
        if self._ended:
            coro.close()
            TrioFuture.cancel(task)
            return task
        self._tasks.add(task)
        if self._nursery is not None:
            self._nursery.start_soon(task._run, name=task._name)
        else:
            assert self._early is not None
            self._early.append(task)
        return task

    def _running(self, task: TrioTask) -> bool:
        return task in self._started

    def tasks(self) -> set[TrioTask]:
        """The library's tasks that have not finished (for tests: nothing outlives)."""
        return set(self._tasks)

    @staticmethod
    async def checkpoint() -> None:
        """Let the other tasks run once (``asyncio.sleep(0)``)."""
        await trio.lowlevel.checkpoint()

    # -- readiness ----------------------------------------------------------------------
    def add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
        self._watch(0, fd, callback, args)

    def remove_reader(self, fd: Any) -> bool:
        return self._unwatch(0, fd)

    def add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
        self._watch(1, fd, callback, args)

    def remove_writer(self, fd: Any) -> bool:
        return self._unwatch(1, fd)

    def _watch(self, kind: int, fd: Any, callback: Callable[..., object], args: Any) -> None:
        fd = fd if isinstance(fd, int) else fd.fileno()
        self._unwatch(kind, fd)
        wait = trio.lowlevel.wait_writable if kind else trio.lowlevel.wait_readable
        self._watchers[kind, fd] = self.create_task(self._watching(wait, fd, callback, args))

    def _unwatch(self, kind: int, fd: Any) -> bool:
        fd = fd if isinstance(fd, int) else fd.fileno()
        task = self._watchers.pop((kind, fd), None)
        if task is None:
            return False
        task.cancel()  # a task blocked on the fd is woken at once: the fd may be closed
        return True

    async def _watching(
        self, wait: Callable[[int], Any], fd: int, callback: Callable[..., object], args: Any
    ) -> None:
        """asyncio's ``add_reader``: call ``callback`` each time the fd is ready."""
        while True:
            await wait(fd)
            try:
                callback(*args)
            except Exception as exc:
                self.call_exception_handler(
                    {"message": f"Exception in callback {callback!r}", "exception": exc}
                )

    # -- names and connections ----------------------------------------------------------
    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, Any, int, str, Any]]:
        return await trio.socket.getaddrinfo(host, port, family, type, proto, flags)

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connect a non-blocking socket, waiting for writability (what asyncio does)."""
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        await trio.lowlevel.wait_writable(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"Connect call failed {address}")

    async def create_connection(
        self, protocol_factory: Callable[[], Any], host: Any = None, port: Any = None, *, sock: Any
    ) -> tuple[TrioStreamTransport, Any]:
        if sock is None:
            raise ValueError("the trio runtime connects sockets it is given (sock=...)")
        return self.transport_of(protocol_factory, sock)

    async def connect_accepted_socket(
        self, protocol_factory: Callable[[], Any], sock: socket.socket
    ) -> tuple[TrioStreamTransport, Any]:
        return self.transport_of(protocol_factory, sock)

    def transport_of(
        self, protocol_factory: Callable[[], Any], sock: socket.socket
    ) -> tuple[TrioStreamTransport, Any]:
        """A transport over a connected socket, made now (``_runtime.transport_now``)."""
        protocol = protocol_factory()
        return TrioStreamTransport(self, sock, protocol), protocol

    # -- the service task ---------------------------------------------------------------
    async def _serve(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                early, self._early = self._early or [], None
                for task in early:
                    if task._coro is not None:
                        nursery.start_soon(task._run, name=task._name)
                await self._run_callbacks()
        finally:
            self._ended = True
            self._nursery = None
            self._tasks.clear()

    async def _run_callbacks(self) -> None:
        """Run ready callbacks and due timers; park until there is more (asyncio's loop).

        The park is bounded by the next timer through a cancel scope's deadline.  One
        scope serves every park until a deadline fires (a fired scope stays cancelled):
        a wake-up by ``call_soon`` only moves the deadline, and making and entering a
        scope per wake-up cost about as much as the callbacks a handshake runs."""
        while True:
            with trio.CancelScope() as scope:
                self._park_scope = scope
                try:
                    await self._serve_in(scope)
                finally:
                    self._park_scope = None

    async def _serve_in(self, scope: trio.CancelScope) -> None:
        """Run callbacks and park in ``scope`` until its deadline (the next timer) fires."""
        ready = self._ready
        heappop = heapq.heappop
        handle: TrioHandle | None
        while True:
            timers = self._timers
            if timers:
                now = trio.current_time()
                while timers and timers[0][0] <= now:
                    handle = heappop(timers)[2]
                    if handle._cancelled:
                        self._cancelled_timers -= 1
                    else:
                        handle._when = None  # a late cancel() no longer counts
                        ready.append(handle)
            for _ in range(len(ready)):
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
            handle = None  # the last callback's arguments must not live while parked
            if ready:
                await trio.lowlevel.checkpoint()
                continue
            deadline = self._timers[0][0] if self._timers else math.inf
            if scope.deadline != deadline:
                scope.deadline = deadline
            self._parked = _current_task()
            try:
                await _wait_task_rescheduled(self._unpark)
            finally:
                self._parked = None

    def _unpark(self, _: Any) -> trio.lowlevel.Abort:
        self._parked = None
        return _SUCCEEDED


_RUNTIME: trio.lowlevel.RunVar[TrioRuntime] = trio.lowlevel.RunVar("unisock_runtime")


def runtime() -> TrioRuntime:
    """The runtime of the current ``trio.run``, started on first use."""
    try:
        return _RUNTIME.get()
    except LookupError:
        found = TrioRuntime()
        _RUNTIME.set(found)
        found._start()
        return found


def running_runtime() -> TrioRuntime | None:
    """``runtime()`` under ``trio.run``, else ``None`` (a thread with no run): one
    ``RunVar`` read where ``running_trio()`` and ``runtime()`` took several calls."""
    try:
        return _RUNTIME.get()
    except LookupError:  # in a run that has not needed the runtime yet
        return runtime()
    except RuntimeError:  # outside any trio.run in this thread
        return None


def trio_cancelled_error() -> BaseException:
    """What awaiting a future cancelled by someone else raises (asyncio's error: trio's
    ``Cancelled`` belongs to cancel scopes and cannot be raised by hand)."""
    from asyncio import CancelledError

    return CancelledError()


def _invalid_state(message: str) -> BaseException:
    from asyncio import InvalidStateError

    return InvalidStateError(message)
