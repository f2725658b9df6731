"""``socket.readable.pipe_to(...)`` without a task: the transport pushes into the writer.

The generic pipe runs one task that awaits each read.  A socket's bytes already arrive in
a loop callback, so the pipe takes them there: each chunk goes straight to the
destination writer (for another socket, its transport), and when the destination pushes
back the source transport stops reading until the write completes.  Closing, errors,
aborts and the signal are the generic pipe's (``streams.pipe._Pipe``), unchanged.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from .._base.deferred import RESOLVED_NONE, Deferred
from ..streams.pipe import _Pipe

if TYPE_CHECKING:
    from .socket import Socket


class SocketPipe(_Pipe):
    """A pipe whose source is a socket's readable, fed by the socket's protocol."""

    def __init__(self, source: Any, *args: Any) -> None:
        super().__init__(source, *args)
        # Set before start(): a source that is already errored or closed (the peer reset
        # before the pipe began) ends the pipe without ever beginning the transfer.
        self.sock: Socket = source._owner
        self.paused = False

    def _begin_transfer(self) -> None:
        sock = self.sock
        controller = sock._rctrl
        queued = list(controller._queue)  # bytes that arrived before the pipe
        controller._queue.clear()
        controller._total = 0
        sock._pipe = self
        for chunk in queued:
            self.push(chunk)
        if controller._close_requested and not self.shutting_down:
            controller._clear_algorithms()
            self.source._close()  # the end was already queued: the pipe has seen it
        if sock._read_paused and not sock._read_done:
            # The readable's queue is empty now: its own pause is over.  If the pipe
            # paused for its destination meanwhile, ``_drained`` resumes reading later.
            sock._read_paused = False
            controller._pull_algorithm = None
            transport = sock._transport
            if transport is not None and not self.paused:
                with contextlib.suppress(Exception):
                    transport.resume_reading()

    def push(self, chunk: bytes) -> None:
        """One chunk from the source socket (the per-chunk path: no task, no future)."""
        if self.shutting_down:
            return
        done = self.writer.write(chunk)
        if done is RESOLVED_NONE:
            return
        self.last_write = done
        if not done.done() and not self.paused:
            self.paused = True
            transport = self.sock._transport
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.pause_reading()
            done.add_done_callback(self._drained)

    def _drained(self, d: Deferred[None]) -> None:
        self.paused = False
        sock = self.sock
        if sock._pipe is self and not sock._read_done and not sock._read_paused:
            transport = sock._transport
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.resume_reading()

    def _source_closed(self) -> None:
        self.sock._read_end_observed()
        super()._source_closed()

    def _finalize(self, error: BaseException | None) -> None:
        sock = self.sock
        if sock._pipe is self:
            sock._pipe = None
            if self.paused and not sock._read_paused and not sock._read_done:
                # The pipe paused the transport for its destination; without the pipe the
                # readable's own high-water mark governs reading again.
                self.paused = False
                transport = sock._transport
                if transport is not None:
                    with contextlib.suppress(Exception):
                        transport.resume_reading()
        super()._finalize(error)


def pipe_class_for(sock: Socket, dest: Any) -> Any:
    """``SocketPipe`` where the push path applies, else the generic pipe."""
    if (
        sock._driver.datagrams
        or sock._data_callbacks is not None
        or sock._pipe is not None
        or sock._rctrl._pending
    ):
        return _Pipe
    return SocketPipe
