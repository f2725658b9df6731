"""A socket's ``"data"`` event mode: chunks go to listeners as they arrive, no reader.

The first ``"data"`` listener takes every byte queued so far (delivered on the next loop
pass, before anything newer) and locks the readable for good; removing the last listener
pauses reading until one is added again.  API.md's fast echo path: a sync listener runs
inside the transport's callback, with no task or future per chunk: in this mode the
transport calls ``_on_data_event`` itself (the protocol's entry is switched), which builds
the event and calls the listeners, with no other Python call between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..events import Event, _watch, report_exception
from ..streams.readable import ReadableStreamDefaultReader
from .channel import ByteChannel, _StreamProtocol
from .socket_events import SocketDataEvent

_monotonic = time.monotonic

__all__ = ["DataEvents"]


class _ChunkEvent(SocketDataEvent):
    """A ``SocketDataEvent`` as the per-chunk entry makes it: called with no arguments, the
    class runs C's ``object.__init__`` (no Python frame, unlike ``SocketDataEvent(...)``,
    and no argument tuple, unlike ``object.__new__(cls)``); the entry sets its fields."""

    __slots__ = ()
    __init__ = object.__init__

    def __repr__(self) -> str:
        return "<SocketDataEvent 'data'>"  # the public class's name: this one is private


class DataEvents(ByteChannel):
    """The ``"data"`` listeners of a socket (a part of ``Socket``, over the channel)."""

    __slots__ = ()

    def _data_entry(self) -> Callable[[bytes], None]:
        if self._data_callbacks is not None:
            return self._on_data_event
        return self._on_data

    def _on_data_event(self, data: bytes) -> None:
        """The transport's per-chunk entry in ``"data"`` mode: ``_on_data`` and
        ``_dispatch_data`` in one frame for a sole listener (the usual case), the event
        built without a Python ``__init__``; anything else in ``_on_data_others``."""
        self._bytes_received += len(data)
        sole = self._data_sole
        if sole is None:
            self._on_data_others(data)
            return
        event = _ChunkEvent()
        event.target = self
        event.time_stamp = _monotonic()
        event.buffers = [data]
        try:
            result = sole(event)
        except Exception as exc:
            report_exception(exc, "exception in 'data' event listener")
            return
        if result is not None and hasattr(result, "__await__"):
            _watch(result, "exception in async 'data' event listener")

    def _on_data_others(self, data: bytes) -> None:
        """A chunk while the backlog is still to be delivered, or with no listener or
        several (``_data_sole`` is ``None`` then)."""
        backlog = self._data_backlog
        if backlog is not None:
            backlog.append(data)
            return
        self._dispatch_data([data])

    def _update_sole(self) -> None:
        """``_data_sole``: the only listener, once the backlog is delivered (else ``None``)."""
        callbacks = self._data_callbacks
        if callbacks is not None and len(callbacks) == 1 and self._data_backlog is None:
            self._data_sole = callbacks[0]
        else:
            self._data_sole = None

    def _use_data_entry(self) -> None:
        """Point the protocol at ``_on_data_event``; a BYOB protocol (a BYOB reader was
        released) keeps calling ``_on_data``, which dispatches too."""
        protocol = self._protocol
        if not isinstance(protocol, _StreamProtocol):
            return
        protocol.data_received = self._on_data_event  # type: ignore[method-assign]
        transport = self._transport
        if (
            transport is not None
            and self._driver.zero_copy_reads
            and transport.get_protocol() is protocol
        ):
            transport.set_protocol(protocol)  # uvloop caches data_received: look it up again

    def _dispatch_data(self, buffers: list[bytes]) -> None:
        event = SocketDataEvent(buffers)
        event.target = self
        self._call_data_listeners(event)

    def _call_data_listeners(self, event: SocketDataEvent) -> None:
        for callback in self._data_callbacks or ():
            try:
                result = callback(event)
            except Exception as exc:
                report_exception(exc, "exception in 'data' event listener")
                continue
            if result is not None and hasattr(result, "__await__"):
                _watch(result, "exception in async 'data' event listener")

    def _check_stream_mode(self) -> None:
        if self._data_callbacks is not None:
            raise TypeError(
                "readable is not available: this socket delivers its bytes to 'data' "
                "event listeners"
            )

    def _listeners_changed(self, type: str) -> None:
        if type != "data":
            return
        entries = self._listeners.get("data")
        if self._data_callbacks is None:
            if not entries:
                return
            if self._readable._reader is not None:
                self.remove_event_listener("data", entries[-1].callback)
                raise TypeError("cannot listen for 'data': readable is locked to a reader already")
            self._enter_data_mode()
        callbacks = [self._entry_caller(e) for e in (entries or ())]
        self._data_callbacks = callbacks
        self._update_sole()
        if not callbacks:
            self._pause_reading()
        elif self._read_paused and not self._read_done:
            self._resume_reading()

    def _entry_caller(self, entry: Any) -> Any:
        callback = entry.callback
        if not entry.once and callable(callback):
            return callback

        def call(event: Event) -> object:
            if entry.once:
                self.remove_event_listener("data", callback)
            if callable(callback):
                return callback(event)
            return callback.handle_event(event)

        return call

    def _enter_data_mode(self) -> None:
        """The first ``"data"`` listener: hand it every queued byte, lock the readable."""
        controller = self._rctrl
        queued = list(controller._queue)
        controller._queue.clear()
        controller._total = 0
        lock = ReadableStreamDefaultReader(self._readable)  # holds the lock for good
        del lock
        self._data_callbacks = []
        self._data_backlog = queued
        self._use_data_entry()
        self._loop.call_soon(self._flush_backlog)

    def _flush_backlog(self) -> None:
        """Deliver what was queued before the first listener, then what came meanwhile."""
        backlog, self._data_backlog = self._data_backlog, None
        self._update_sole()
        if backlog:
            self._dispatch_data(backlog)
        if self._eof:
            self._data_mode_end()

    def _data_mode_end(self) -> None:
        self.dispatch_event(Event("end"))
        if not self._opts.allow_half_open:
            self._close_writable_after_queued()
