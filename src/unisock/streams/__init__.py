"""Web-standard streams (WHATWG Streams), the parts sockets need, fast on the byte path.

``FrameReader`` and the transform streams load on first use (a socket needs neither).
"""

from typing import TYPE_CHECKING

from ._common import ByteLengthQueuingStrategy, CountQueuingStrategy, ReadResult
from .readable import (
    ReadableByteStreamController,
    ReadableStream,
    ReadableStreamBYOBReader,
    ReadableStreamBYOBRequest,
    ReadableStreamDefaultController,
    ReadableStreamDefaultReader,
)
from .writable import WritableStream, WritableStreamDefaultController, WritableStreamDefaultWriter

if TYPE_CHECKING:
    from .framing import FrameReader as FrameReader
    from .transform import TransformStream as TransformStream
    from .transform import TransformStreamDefaultController as TransformStreamDefaultController

_LAZY = {
    "FrameReader": ".framing",
    "TransformStream": ".transform",
    "TransformStreamDefaultController": ".transform",
}

__all__ = [
    "ByteLengthQueuingStrategy",
    "CountQueuingStrategy",
    "FrameReader",
    "ReadResult",
    "ReadableByteStreamController",
    "ReadableStream",
    "ReadableStreamBYOBReader",
    "ReadableStreamBYOBRequest",
    "ReadableStreamDefaultController",
    "ReadableStreamDefaultReader",
    "TransformStream",
    "TransformStreamDefaultController",
    "WritableStream",
    "WritableStreamDefaultController",
    "WritableStreamDefaultWriter",
]


def __getattr__(name: str) -> object:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'unisock.streams' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
