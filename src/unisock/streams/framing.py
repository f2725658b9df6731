"""``FrameReader``: lines, separators and exact lengths over a byte ``ReadableStream``.

A WHATWG reader hands out chunks as they arrived; a protocol wants a line, the bytes up
to a separator, or exactly n bytes, and then often the rest as a stream (an HTTP body
after its header).  ``FrameReader`` is that one piece of buffering, written once:

======================================  ==============================================
``asyncio.StreamReader``                ``FrameReader``
======================================  ==============================================
``StreamReader(limit=2**16)``           ``FrameReader(stream, limit=65536)``
``await readexactly(n)``                ``await read_exactly(n)``
``await readuntil(sep)``                ``await read_until(sep, limit=None)``
``await readline()``                    ``await read_line(limit=None)``
``await read(n)``                       ``await read(n)`` (``n`` required: no read-all)
``at_eof()``                            ``await at_eof()`` (asks the stream; see there)
(none)                                  ``rest()``: the unread bytes as a stream again
``IncompleteReadError``                 ``IncompleteReadError`` (a subclass of asyncio's)
``LimitOverrunError``                   ``LimitOverrunError`` (also a ``ValueError``)
======================================  ==============================================

The names follow the project's snake_case rule; the behaviour follows asyncio, with
two deliberate differences: ``read_line`` at the end of the stream raises
``IncompleteReadError`` (with the partial line, ``b""`` at a clean end) instead of
returning a short line, so that a truncated frame is never mistaken for a whole one; and
a frame over the limit is never discarded (asyncio's ``readline`` drops it), the
bytes stay buffered and the caller decides.

How it reads: on a byte stream (a socket's ``readable``) through a BYOB reader, straight
into the free tail of one ``bytearray``; on any other stream through a default reader,
appending its chunks.  Separators are found with ``bytearray.find`` from where the last
search stopped, so a long line is scanned once, not once per chunk.  A frame is returned
as ``bytes`` (one copy, out of the buffer); ``rest()`` hands the buffered bytes on and
then lets the stream's own reads fill the consumer's buffers.

Cancellation: a read cancelled while it waits loses nothing.  The read of the stream it
started stays in flight and lands in the buffer; the next call (or ``rest()``) picks it
up.  One call at a time: a second call while one waits is an ``InvalidStateError``.
"""

from __future__ import annotations

from typing import Any

from .._base.deferred import RESOLVED_NONE, Deferred, settle_from
from .._base.framing_errors import IncompleteReadError, LimitOverrunError
from ..errors import InvalidStateError
from ._common import ReadResult
from .readable import (
    CLOSED,
    ReadableByteStreamController,
    ReadableStream,
    ReadableStreamBYOBReader,
    ReadableStreamBYOBRequest,
    ReadableStreamDefaultReader,
)

__all__ = ["DEFAULT_LIMIT", "FrameReader", "IncompleteReadError", "LimitOverrunError"]

DEFAULT_LIMIT = 65536
"""The default longest frame ``read_until``/``read_line`` accept, as asyncio's (64 KiB)."""

_MIN_READ = 16384
"""The smallest buffer offered to one read of the stream: small enough that an idle
connection holds little, large enough that lines are not read a few bytes at a time."""

_MAX_AHEAD = 1 << 20
"""The most a read reserves beyond the bytes that arrived: ``read_exactly(n)`` grows the
buffer as the bytes come (doubling), so a hostile length prefix allocates nothing up front."""

_KEEP = 262144
"""An emptied buffer larger than this is let go (one large frame must not pin memory)."""

_REST_CHUNK = 65536
"""The buffer ``rest()``'s stream reads the source into for a default (non-BYOB) read."""


def _check_count(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return value


def _check_separator(separator: object) -> bytes:
    if isinstance(separator, str):
        raise TypeError(f"separator must be bytes-like, got str {separator!r} (encode it)")
    try:
        sep = bytes(memoryview(separator))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"separator must be bytes-like, got {type(separator).__name__}") from None
    if not sep:
        raise ValueError("separator must not be empty")
    return sep


class FrameReader:
    """Read lines, separated frames and exact lengths from a byte ``ReadableStream``.

    ``FrameReader(sock.readable)`` locks the stream (to a BYOB reader when it is a byte
    stream, else to a default reader) until ``rest()`` hands it back.  ``limit`` is the
    default longest frame for ``read_until``/``read_line``, separator included.

    Errors: a stream that fails (a reset peer) raises its error from the read that needed
    more bytes, and again from every later one; bytes buffered before it stay readable.
    """

    __slots__ = (
        "_buf",
        "_busy",
        "_end",
        "_eof",
        "_exc",
        "_handed_over",
        "_inflight",
        "_limit",
        "_reader",
        "_scan_from",
        "_scan_sep",
        "_start",
        "_stream",
    )

    def __init__(self, stream: ReadableStream[Any], *, limit: int = DEFAULT_LIMIT) -> None:
        if not isinstance(stream, ReadableStream):
            raise TypeError(f"stream must be a ReadableStream, got {type(stream).__name__}")
        self._limit = _check_count(limit, "limit", minimum=1)
        byob = isinstance(stream._controller, ReadableByteStreamController)
        reader = stream.get_reader("byob" if byob else None)  # TypeError if locked
        self._reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader = reader
        self._stream = stream
        self._buf = bytearray()
        self._start = 0  # the unread bytes are _buf[_start:_end]
        self._end = 0
        self._inflight: Deferred[ReadResult] | None = None
        self._eof = False
        self._exc: BaseException | None = None
        self._scan_sep = b""  # no _scan_sep starts before _start + _scan_from
        self._scan_from = 0
        self._busy = False
        self._handed_over = False

    # -- frames -----------------------------------------------------------------------
    async def read_exactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes.

        Raises ``IncompleteReadError`` (``.partial``, ``.expected == n``) if the stream
        ends first; the partial bytes are taken out of the buffer with it.
        """
        n = _check_count(n, "n", minimum=0)
        self._enter()
        try:
            while self._end - self._start < n:
                if self._eof:
                    raise self._incomplete(n)
                await self._fill(n - (self._end - self._start))
            return self._take(n)
        finally:
            self._busy = False

    async def read_until(
        self, separator: bytes | bytearray | memoryview, *, limit: int | None = None
    ) -> bytes:
        """The bytes up to and including ``separator`` (any bytes-like, several bytes ok).

        A frame longer than ``limit`` bytes (separator included; the reader's limit when
        ``None``) raises ``LimitOverrunError``, a ``ValueError``, as soon as that is
        certain; nothing is consumed.  The end of the stream before the separator raises
        ``IncompleteReadError`` carrying the partial frame (``expected`` is ``None``).
        """
        sep = _check_separator(separator)
        limit = self._limit if limit is None else _check_count(limit, "limit", minimum=1)
        seplen = len(sep)
        if limit < seplen:
            raise ValueError(
                f"limit ({limit}) is shorter than the {seplen}-byte separator: no frame fits"
            )
        self._enter()
        try:
            if sep != self._scan_sep:
                self._scan_sep = sep
                self._scan_from = 0
            while True:
                start = self._start
                end = self._end
                found = self._buf.find(sep, start + self._scan_from, end)
                if found >= 0:
                    size = found - start + seplen
                    if size > limit:
                        self._scan_from = found - start
                        raise LimitOverrunError(
                            f"the frame ending in {sep!r} is {size} bytes, over the limit "
                            f"of {limit} bytes",
                            size,
                            limit,
                        )
                    return self._take(size)
                live = end - start
                self._scan_from = max(0, live - seplen + 1)
                if live >= limit:
                    raise LimitOverrunError(
                        f"no {sep!r} in the first {live} bytes: the frame is over the limit "
                        f"of {limit} bytes",
                        live,
                        limit,
                    )
                if self._eof:
                    raise self._incomplete(None)
                await self._fill(1)
        finally:
            self._busy = False

    async def read_line(self, *, limit: int | None = None) -> bytes:
        """One line, ``b"\\n"`` included (a ``b"\\r\\n"`` line ends in it too).

        ``read_until(b"\\n", limit=limit)``: at the end of the stream it raises
        ``IncompleteReadError`` with the unterminated rest (``b""`` at a clean end).
        """
        return await self.read_until(b"\n", limit=limit)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes: what is buffered, else what one read of the stream brings.

        ``b""`` only at the end of the stream (or for ``n == 0``).
        """
        n = _check_count(n, "n", minimum=0)
        self._enter()
        try:
            if n == 0:
                return b""
            while self._end == self._start:
                if self._eof:
                    return b""
                await self._fill(1)
            return self._take(min(n, self._end - self._start))
        finally:
            self._busy = False

    async def at_eof(self) -> bool:
        """``True`` once the stream has ended and every byte has been read.

        Unlike asyncio's synchronous ``at_eof()``, this may wait: a stream does not say it
        has ended until asked, so with nothing buffered it reads until a byte (then
        ``False``, the byte stays buffered) or the end (``True``) comes.  The idiom
        ``while not await frames.at_eof(): frame = await frames.read_line()`` thus stops
        at a clean end and still reports a truncated last frame.
        """
        self._enter()
        try:
            while self._end == self._start:
                if self._eof:
                    return True
                await self._fill(1)
            return False
        finally:
            self._busy = False

    # -- handing over -------------------------------------------------------------------
    def rest(self) -> ReadableStream[Any]:
        """The unread bytes as a byte stream: what is buffered, then the rest of the source.

        For a protocol that reads its header here and then ``pipe_to``s the body.  When
        nothing is buffered the source stream itself is returned, unlocked (a socket's
        readable keeps its fast pipe); otherwise a byte stream (BYOB readers welcome)
        that forwards cancellation to the source.  This ``FrameReader`` is done with
        afterwards: its methods raise ``InvalidStateError``.
        """
        self._check_usable()
        self._handed_over = True
        if self._end == self._start and self._inflight is None:
            self._buf = bytearray()
            self._reader.release_lock()
            return self._stream
        return _Rest(self).stream

    async def cancel(self, reason: Any = None) -> None:
        """Give up on the stream: drop what is buffered and cancel the source with ``reason``.

        A read waiting meanwhile ends as at the end of the stream.
        """
        if self._handed_over:
            raise InvalidStateError("this FrameReader has handed its stream over with rest()")
        self._drop()
        await self._reader.cancel(reason)

    # -- buffer -------------------------------------------------------------------------
    def _enter(self) -> None:
        self._check_usable()
        self._busy = True

    def _check_usable(self) -> None:
        if self._handed_over:
            raise InvalidStateError("this FrameReader has handed its stream over with rest()")
        if self._busy:
            raise InvalidStateError(
                "another read of this FrameReader is in progress: one call at a time"
            )

    def _drop(self) -> None:
        if self._inflight is None:
            self._buf = bytearray()
            self._start = self._end = 0
        else:  # the read in flight still writes at _end: keep the buffer, forget the bytes
            self._start = self._end
        self._scan_from = 0

    def _take(self, n: int) -> bytes:
        """Consume and return the next ``n`` buffered bytes (one copy)."""
        start = self._start
        data = bytes(memoryview(self._buf)[start : start + n]) if n else b""
        start += n
        self._scan_from = 0
        if start == self._end and self._inflight is None:
            self._start = self._end = 0
            if len(self._buf) > _KEEP:
                self._buf = bytearray()
        else:
            self._start = start
        return data

    def _incomplete(self, expected: int | None) -> IncompleteReadError:
        return IncompleteReadError(self._take(self._end - self._start), expected)

    def _reserve(self, k: int) -> None:
        """At least ``k`` free bytes after ``_end`` (never while a read is in flight).

        The buffer is never resized in place (a reader or a result may still hold a view
        of it): the unread bytes move to the front, or into a new, larger buffer.
        """
        buf = self._buf
        cap = len(buf)
        end = self._end
        if cap - end >= k:
            return
        start = self._start
        live = end - start
        if live + k <= cap:
            view = memoryview(buf)
            view[:live] = view[start:end]
        else:
            new = bytearray(max(2 * cap, live + k, _MIN_READ))
            if live:
                new[:live] = memoryview(buf)[start:end]
            self._buf = new
        self._start = 0
        self._end = live

    async def _fill(self, want: int) -> None:
        """Wait for one read of the stream (the one in flight, or a new one)."""
        d = self._inflight
        if d is None:
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return
            d = self._start_read(want)
            if d is None:  # settled at once
                if self._exc is not None:
                    raise self._exc
                return
        await d  # a cancellation leaves the read in flight: its bytes land in the buffer

    def _start_read(self, want: int) -> Deferred[ReadResult] | None:
        reader = self._reader
        if isinstance(reader, ReadableStreamBYOBReader):
            self._reserve(max(min(want, _MAX_AHEAD), _MIN_READ))
            d = reader.read(memoryview(self._buf)[self._end :])
        else:
            d = reader.read()
        if d.done():
            self._settled(d)
            return None
        self._inflight = d
        # A callback (not the awaiting task) takes the result: a cancelled caller loses
        # nothing, and the default reader does not withdraw a request that has one.
        d.add_done_callback(self._settled)
        return d

    def _settled(self, d: Deferred[ReadResult]) -> None:
        self._inflight = None
        exc = d.exception()
        if exc is not None:
            self._exc = exc
            return
        value, done = d.result()
        if value is not None and len(value):
            if isinstance(self._reader, ReadableStreamBYOBReader):
                self._end += len(value)  # read into _buf[_end:]
            else:
                self._append(value)
        if done:
            self._eof = True

    def _append(self, chunk: Any) -> None:
        try:
            view = memoryview(chunk).cast("B")
        except TypeError:
            self._exc = TypeError(
                f"FrameReader reads bytes-like chunks, the stream gave {type(chunk).__name__}"
            )
            return
        n = len(view)
        self._reserve(n)
        self._buf[self._end : self._end + n] = view
        self._end += n


class _Rest:
    """The source of ``FrameReader.rest()``'s byte stream: buffer first, then the source."""

    __slots__ = ("_closed", "_controller", "_frames", "_scratch", "stream")

    def __init__(self, frames: FrameReader) -> None:
        self._frames = frames
        self._closed = False
        self._scratch: memoryview | None = None
        stream = ReadableStream._create(
            pull=self._pull, cancel=self._cancel, high_water_mark=0, bytes_stream=True
        )
        controller = stream._controller
        assert isinstance(controller, ReadableByteStreamController)
        self._controller = controller
        self.stream = stream

    def _pull(self) -> Deferred[Any]:
        frames = self._frames
        controller = self._controller
        inflight = frames._inflight
        if inflight is not None:  # a cancelled read's bytes are still on their way
            out: Deferred[Any] = Deferred()
            inflight.add_done_callback(lambda _: settle_from(out, self._pull()))
            return out
        if frames._end > frames._start:
            controller.enqueue(frames._take(frames._end - frames._start))
            frames._buf = bytearray()
            return RESOLVED_NONE
        if frames._exc is not None:
            self._error(frames._exc)
            return RESOLVED_NONE
        if frames._eof:
            self._close()
            return RESOLVED_NONE
        reader = frames._reader
        out = Deferred()
        if isinstance(reader, ReadableStreamBYOBReader):
            # A BYOB consumer's buffer is filled by the source directly.  A default read
            # (async for, pipe_to) gets a chunk read into a scratch buffer and enqueued:
            # not an auto-allocated buffer, which a cancelled read would take with it.
            request = controller.byob_request
            view = request.view if request is not None else None
            if view is None:
                request = None
                view = self._scratch
                if view is None:
                    view = self._scratch = memoryview(bytearray(_REST_CHUNK))
            reader.read(view).add_done_callback(lambda d: self._got(d, request, out))
        else:
            reader.read().add_done_callback(lambda d: self._got(d, None, out))
        return out

    def _got(
        self,
        d: Deferred[ReadResult],
        request: ReadableStreamBYOBRequest | None,
        out: Deferred[Any],
    ) -> None:
        out.resolve(None)
        if self._closed:
            return
        exc = d.exception()
        if exc is not None:
            self._error(exc)
            return
        value, done = d.result()
        if value is not None and len(value):
            if request is not None and request.view is not None:
                request.respond(len(value))  # the source wrote into the consumer's buffer
            else:
                self._controller.enqueue(bytes(value))
        if done:
            self._close()

    def _close(self) -> None:
        self._closed = True
        controller = self._controller
        if controller._can_close_or_enqueue():
            controller.close()
            request = controller.byob_request
            if request is not None and self.stream._state == CLOSED:
                request.respond(0)
        self._frames._reader.release_lock()

    def _error(self, exc: BaseException) -> None:
        self._closed = True
        self._controller.error(exc)
        self._frames._reader.release_lock()

    def _cancel(self, reason: Any) -> Deferred[Any]:
        self._closed = True
        frames = self._frames
        frames._drop()
        reader = frames._reader
        if reader._stream is None:  # released: the source already ended
            return RESOLVED_NONE
        done = reader.cancel(reason)
        reader.release_lock()
        return done
