"""Web-standard streams (WHATWG Streams), the parts sockets need, fast on the byte path."""

from ._common import ByteLengthQueuingStrategy, CountQueuingStrategy, ReadResult
from .framing import FrameReader
from .readable import (
    ReadableByteStreamController,
    ReadableStream,
    ReadableStreamBYOBReader,
    ReadableStreamBYOBRequest,
    ReadableStreamDefaultController,
    ReadableStreamDefaultReader,
)
from .transform import TransformStream, TransformStreamDefaultController
from .writable import WritableStream, WritableStreamDefaultController, WritableStreamDefaultWriter

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
