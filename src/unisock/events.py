"""``Event`` and ``EventTarget``: the web platform's event model, Pythonic.

Listeners are plain or ``async`` callables, or objects with a ``handle_event`` method.
A listener that raises (or an ``async`` one that fails) is reported to the runtime's
exception handler (asyncio's loop handler; logged on trio) and never stops the other
listeners.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from ._runtime import current

if TYPE_CHECKING:
    from .abort import AbortSignal

__all__ = ["Event", "EventListener", "EventTarget"]


class Event:
    """Something that happened, dispatched to the listeners of one ``type``."""

    __slots__ = (
        "_default_prevented",
        "_stop",
        "cancelable",
        "current_target",
        "target",
        "time_stamp",
        "type",
    )

    def __init__(self, type: str, *, cancelable: bool = False) -> None:
        if not isinstance(type, str):
            raise TypeError(f"Event type must be a str, got {type!r}")
        self.type = type
        self.cancelable = cancelable
        self.target: EventTarget | None = None
        self.current_target: EventTarget | None = None
        self.time_stamp = time.monotonic()
        self._default_prevented = False
        self._stop = False

    @property
    def default_prevented(self) -> bool:
        return self._default_prevented

    def prevent_default(self) -> None:
        if self.cancelable:
            self._default_prevented = True

    def stop_immediate_propagation(self) -> None:
        """Skip the listeners that have not run yet for this dispatch."""
        self._stop = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type!r}>"


@runtime_checkable
class _HandlesEvents(Protocol):
    def handle_event(self, event: Any) -> object: ...


EventListener: TypeAlias = (
    "Callable[[Any], object] | Callable[[Any], Awaitable[object]] | _HandlesEvents"
)


class _Entry:
    __slots__ = ("callback", "once", "removed")

    def __init__(self, callback: EventListener, once: bool) -> None:
        self.callback = callback
        self.once = once
        self.removed = False


def report_exception(exc: BaseException, message: str) -> None:
    """Hand an exception nobody can catch to the runtime's handler (or stderr off-loop)."""
    try:
        loop = current()
    except RuntimeError:
        print(f"unisock: {message}: {exc!r}", file=sys.stderr)
        return
    loop.call_exception_handler({"message": message, "exception": exc})


_background: set[Any] = set()


def _peer_outcome(exc: BaseException) -> bool:
    """An error a peer or the network caused (a reset, a truncated TLS stream, a timeout,
    an abort): the socket it happened to reports it on its own ``closed`` and ``"error"``
    event, so an async listener ending with it (the echo server's ``pipe_to`` when a
    client resets) is an outcome, not an error to raise into the loop (API.md: a
    misbehaving peer never raises into the loop)."""
    from . import errors

    return isinstance(
        exc, errors.NetworkError | errors.TLSError | errors.TimeoutError | errors.AbortError
    )


def _watch(coro: Awaitable[Any], what: str) -> None:
    add_done_callback = getattr(coro, "add_done_callback", None)
    if add_done_callback is not None and not hasattr(coro, "send"):
        # A Deferred or future (e.g. ``pipe_to``'s result): watch it without a task.
        def _settled(d: Any) -> None:
            cancelled = getattr(d, "cancelled", None)
            if cancelled is not None and cancelled():
                return
            exc = d.exception()
            if exc is not None and not _peer_outcome(exc):
                report_exception(exc, what)

        add_done_callback(_settled)
        return
    task: Any = current().create_task(coro if isinstance(coro, Coroutine) else _await(coro))
    _background.add(task)

    def _done(t: Any) -> None:
        _background.discard(t)
        if not t.cancelled() and (exc := t.exception()) is not None and not _peer_outcome(exc):
            report_exception(exc, what)

    task.add_done_callback(_done)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class EventTarget:
    """Holds listeners by event type and dispatches events to them in order."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: dict[str, list[_Entry]] = {}

    def add_event_listener(
        self,
        type: str,
        listener: EventListener | None,
        *,
        once: bool = False,
        signal: AbortSignal | None = None,
    ) -> None:
        """Add ``listener`` for ``type`` (once only, however often it is added)."""
        if not isinstance(type, str):
            raise TypeError(f"type must be a str, got {type!r}")
        if listener is None:
            return
        if not callable(listener) and not isinstance(listener, _HandlesEvents):
            raise TypeError(f"listener must be callable or have handle_event(), got {listener!r}")
        if signal is not None and signal.aborted:
            return
        entries = self._listeners.setdefault(type, [])
        if any(e.callback == listener for e in entries):
            return
        entry = _Entry(listener, once)
        self._listeners[type] = [*entries, entry]
        if signal is not None:
            signal._add_algorithm(lambda: self.remove_event_listener(type, listener))
        self._listeners_changed(type)

    def remove_event_listener(self, type: str, listener: EventListener | None) -> None:
        entries = self._listeners.get(type)
        if not entries:
            return
        kept = []
        for e in entries:
            if e.callback == listener:
                e.removed = True
            else:
                kept.append(e)
        if len(kept) != len(entries):
            if kept:
                self._listeners[type] = kept
            else:
                del self._listeners[type]
            self._listeners_changed(type)

    def _listeners_changed(self, type: str) -> None:
        """Hook for subclasses that keep a fast path for some event type."""

    def dispatch_event(self, event: Event) -> bool:
        """Run the listeners of ``event.type`` now; ``False`` if the default was prevented."""
        if not isinstance(event, Event):
            raise TypeError(f"dispatch_event takes an Event, got {event!r}")
        event.target = self
        event.current_target = self
        entries = self._listeners.get(event.type)
        if entries:
            for entry in entries:  # the list is replaced, never mutated, on change
                if entry.removed:
                    continue
                if entry.once:
                    self.remove_event_listener(event.type, entry.callback)
                self._call(entry.callback, event)
                if event._stop:
                    break
        event.current_target = None
        return not event._default_prevented

    @staticmethod
    def _call(listener: EventListener, event: Event) -> None:
        try:
            result = listener(event) if callable(listener) else listener.handle_event(event)
        except Exception as exc:
            report_exception(exc, f"exception in {event.type!r} event listener")
            return
        if result is not None and hasattr(result, "__await__"):
            _watch(result, f"exception in async {event.type!r} event listener")
