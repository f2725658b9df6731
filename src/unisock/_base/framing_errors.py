"""The two errors of ``unisock.streams.FrameReader``: a frame cut short, a frame too long.

They live in a leaf module (no import of the streams) so that ``unisock.errors`` can
re-export them without an import cycle.  Each also derives from its ``asyncio`` namesake,
so code ported from ``asyncio.StreamReader`` (``except asyncio.IncompleteReadError``,
``except asyncio.LimitOverrunError``) keeps working unchanged.
"""

from __future__ import annotations

import asyncio

__all__ = ["IncompleteReadError", "LimitOverrunError"]


class IncompleteReadError(asyncio.IncompleteReadError):
    """The stream ended in the middle of a frame.

    ``partial`` holds the bytes of the unfinished frame (taken out of the reader's buffer:
    they are not read again); ``expected`` is the length asked of ``read_exactly``, or
    ``None`` for ``read_until``/``read_line``.  ``partial == b""`` means the stream ended
    cleanly between two frames.  An ``EOFError``, as in asyncio.
    """

    partial: bytes
    expected: int | None

    def __init__(self, partial: bytes, expected: int | None, message: str | None = None) -> None:
        if message is None:
            if expected is None:
                n = len(partial)
                message = f"the stream ended {n} byte{'' if n == 1 else 's'} into a frame"
            else:
                message = f"the stream ended after {len(partial)} of {expected} bytes"
        EOFError.__init__(self, message)
        self.partial = partial
        self.expected = expected

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.partial, self.expected, str(self))


class LimitOverrunError(ValueError, asyncio.LimitOverrunError):
    """A frame is longer than the ``limit`` it was read with.

    A ``ValueError`` (what asyncio's ``readline`` raises, and what a frame too long for a
    protocol is) that is also an ``asyncio.LimitOverrunError`` (what asyncio's
    ``readuntil`` raises).  Nothing is consumed: the bytes stay buffered, so the caller
    can give up on the connection, or read on with a larger limit.  ``consumed`` is how
    many buffered bytes the frame is known to span (as in asyncio); ``limit`` the limit.
    """

    consumed: int
    limit: int

    def __init__(self, message: str, consumed: int, limit: int) -> None:
        ValueError.__init__(self, message)
        self.consumed = consumed
        self.limit = limit

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (str(self), self.consumed, self.limit)
