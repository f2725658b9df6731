"""stdin and stdout as web streams, so a socket can be piped to and from them.

stdin is read by a daemon thread: ``loop.connect_read_pipe`` refuses regular files and
``/dev/null``, and a thread blocked on a terminal must never hold up the exit (the default
executor's shutdown would wait for it).  A small credit count gives backpressure: the
thread reads ahead at most ``AHEAD`` chunks of what the socket has taken.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import Any, BinaryIO

from .. import Deferred
from ..streams import ReadableStream, WritableStream
from .tasks import loop_caller

__all__ = ["StdoutSink", "stdin_stream", "stdout_stream"]

AHEAD = 4


class _StdinSource:
    """An underlying source over a file descriptor, read by a thread."""

    def __init__(self, fd: int, chunk_size: int) -> None:
        self._fd = fd
        self._chunk_size = chunk_size
        self._credits = threading.Semaphore(AHEAD)
        self._stopped = threading.Event()
        self._call = loop_caller()  # asyncio or trio: whichever runs this command
        self._items: deque[bytes | OSError | None] = deque()
        self._arrived: Deferred[None] | None = None
        self._thread: threading.Thread | None = None

    def _work(self) -> None:
        while True:
            self._credits.acquire()
            if self._stopped.is_set():
                return
            item: bytes | OSError | None
            try:
                item = os.read(self._fd, self._chunk_size) or None
            except OSError as exc:
                item = exc
            try:
                self._call(self._put, item)
            except RuntimeError:  # the loop is closed: nobody wants the rest
                return
            if not isinstance(item, bytes):
                return

    def _put(self, item: bytes | OSError | None) -> None:
        """On the loop: queue what the thread read, and wake ``pull``."""
        self._items.append(item)
        if self._arrived is not None:
            self._arrived.resolve(None)

    async def pull(self, controller: Any) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="unisock-stdin", daemon=True)
            self._thread.start()
        while not self._items:
            self._arrived = Deferred()
            await self._arrived
        self._arrived = None
        item = self._items.popleft()
        if item is None:
            controller.close()
        elif isinstance(item, OSError):
            controller.error(item)
        else:
            self._credits.release()
            controller.enqueue(item)

    def cancel(self, reason: Any) -> None:
        self._stopped.set()
        self._credits.release()


def stdin_stream(chunk_size: int = 64 * 1024, fd: int | None = None) -> ReadableStream[bytes]:
    """stdin's bytes as a ``ReadableStream`` (each chunk is what one read returned)."""
    return ReadableStream(_StdinSource(sys.stdin.fileno() if fd is None else fd, chunk_size))


class StdoutSink:
    """An underlying sink writing each chunk to a binary file and flushing it."""

    def __init__(self, out: BinaryIO | None = None) -> None:
        self._out = sys.stdout.buffer if out is None else out
        self.bytes = 0
        self.last_write = time.monotonic()

    def write(self, chunk: bytes, controller: Any = None) -> None:
        self._out.write(chunk)
        self._out.flush()
        self.bytes += len(chunk)
        self.last_write = time.monotonic()

    def close(self) -> None:
        self._out.flush()


def stdout_stream(sink: StdoutSink | None = None) -> WritableStream[bytes]:
    """stdout as a ``WritableStream`` (``pipe_to`` target)."""
    return WritableStream(sink or StdoutSink())
