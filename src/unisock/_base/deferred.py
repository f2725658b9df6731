"""A promise for async code: settle once, await any number of times from any task.

Why not ``asyncio.Future``: a future rejected with nobody awaiting logs "exception was
never retrieved", a cancelled awaiter cancels the future for everyone, and every future
costs a loop look-up.  A ``Deferred`` keeps its outcome itself, creates a runtime future
only for a task that really has to wait (one per waiting task, so cancelling one waiter
touches nobody else) and returns at once, without touching the runtime, when already
settled.  The runtime is asyncio's loop or unisock's trio runtime (``_runtime``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .._runtime import CancelledError, current, running_loop

if TYPE_CHECKING:
    from .._runtime.base import Runtime

T = TypeVar("T")

_PENDING = 0
_FULFILLED = 1
_REJECTED = 2


class Deferred(Generic[T]):
    """A settle-once result that any number of tasks may await any number of times."""

    __slots__ = ("_callbacks", "_loop", "_on_abandon", "_state", "_value", "_waiters")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._waiters: list[Any] | None = None
        self._callbacks: list[Callable[[Deferred[T]], object]] | None = None
        self._on_abandon: Callable[[], object] | None = None
        self._loop: Runtime | None = None

    @classmethod
    def resolved(cls, value: T) -> Deferred[T]:
        d: Deferred[T] = cls()
        d._state = _FULFILLED
        d._value = value
        return d

    @classmethod
    def rejected(cls, exc: BaseException) -> Deferred[T]:
        d: Deferred[T] = cls()
        d._state = _REJECTED
        d._value = exc
        return d

    # -- inspection ---------------------------------------------------------------
    def done(self) -> bool:
        return self._state != _PENDING

    def is_fulfilled(self) -> bool:
        return self._state == _FULFILLED

    def is_rejected(self) -> bool:
        return self._state == _REJECTED

    def result(self) -> T:
        """The value; raises the rejection, or ``InvalidStateError`` while pending."""
        if self._state == _FULFILLED:
            return cast(T, self._value)
        if self._state == _REJECTED:
            raise self._value
        from ..errors import InvalidStateError

        raise InvalidStateError("the result is not ready yet")

    def exception(self) -> BaseException | None:
        return cast(BaseException, self._value) if self._state == _REJECTED else None

    # -- settling -----------------------------------------------------------------
    def resolve(self, value: T) -> None:
        """Fulfil with ``value``; a no-op once settled."""
        if self._state == _PENDING:
            self._state = _FULFILLED
            self._value = value
            self._wake()

    def reject(self, exc: BaseException) -> None:
        """Reject with ``exc``; a no-op once settled.  Never logged if nobody awaits."""
        if self._state == _PENDING:
            self._state = _REJECTED
            self._value = exc
            self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        callbacks = self._callbacks
        if callbacks is not None:
            self._callbacks = None
            for cb in callbacks:
                cb(self)

    def add_done_callback(self, callback: Callable[[Deferred[T]], object]) -> None:
        """Call ``callback(self)`` synchronously when settled (at once if already so)."""
        if self._state != _PENDING:
            callback(self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    # -- awaiting -----------------------------------------------------------------
    def __await__(self) -> Generator[Any, None, T]:
        if self._state == _PENDING:
            loop = self._loop or running_loop() or current()
            fut = loop.create_future()
            if self._waiters is None:
                self._waiters = [fut]
            else:
                self._waiters.append(fut)
            try:
                yield from fut  # type: ignore[misc]
            except BaseException:
                # The waiting task was cancelled (asyncio and trio both cancel the future
                # a cancelled task waits on).
                if fut.cancelled():
                    self._abandon_if_unwanted()
                raise
            finally:
                waiters = self._waiters
                if waiters is not None and fut in waiters:
                    waiters.remove(fut)
        if self._state == _FULFILLED:
            return cast(T, self._value)
        raise self._value

    def _abandon_if_unwanted(self) -> None:
        """The last waiting task was cancelled: let the producer take the request back.

        A cancelled ``await reader.read()`` thus loses no chunk: the read request is
        withdrawn and the next chunk goes to the next read.
        """
        if self._state != _PENDING or self._on_abandon is None or self._callbacks:
            return
        waiters = self._waiters
        if waiters is not None and any(not f.done() for f in waiters if not f.cancelled()):
            return
        abandon, self._on_abandon = self._on_abandon, None
        abandon()

    def __repr__(self) -> str:
        state = ("pending", "fulfilled", "rejected")[self._state]
        return (
            f"<Deferred {state}>"
            if self._state == _PENDING
            else (f"<Deferred {state} {self._value!r}>")
        )


RESOLVED_NONE: Deferred[None] = Deferred.resolved(None)
"""A shared, already-fulfilled result: returned by calls that finished synchronously."""


def settle_from(target: Deferred[Any], awaitable: Any) -> None:
    """Settle ``target`` from a coroutine or awaitable, running it as a task if needed."""
    if isinstance(awaitable, Deferred):

        def _copy(src: Deferred[Any]) -> None:
            if src._state == _FULFILLED:
                target.resolve(src._value)
            else:
                target.reject(src._value)

        awaitable.add_done_callback(_copy)
        return
    loop = running_loop() or current()
    if not hasattr(awaitable, "send"):  # a future or other awaitable: await it in a task
        awaitable = _await(awaitable)
    task = loop.create_task(awaitable)

    def _done(t: Any) -> None:
        if t.cancelled():
            target.reject(CancelledError())
        elif (exc := t.exception()) is not None:
            target.reject(exc)
        else:
            target.resolve(t.result())

    task.add_done_callback(_done)


async def _await(awaitable: Any) -> Any:
    return await awaitable
