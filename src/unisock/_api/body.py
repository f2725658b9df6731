"""A socket's ``body``: what it sends once connected, then FIN.

Every form API.md allows (``str``, bytes-like, a ``ReadableStream``, sync or async
iterables, a binary file or ``Path`` — sent with ``loop.sendfile`` where the transport
allows —, an awaitable, a callable returning one of these) is written through the
socket's own writer, so backpressure and errors are the writable's.  A small body that
rode on the SYN (TCP Fast Open) is not sent twice.
"""

from __future__ import annotations

import asyncio
import io
import pathlib
from typing import TYPE_CHECKING, Any, cast

from ..streams import ReadableStream

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["check_body", "start_body"]


def check_body(body: Any) -> None:
    if body is None or callable(body) or hasattr(body, "__await__"):
        return
    ok = (
        str,
        bytes,
        bytearray,
        memoryview,
        ReadableStream,
        pathlib.PurePath,
        io.IOBase,
    )
    if isinstance(body, ok) or hasattr(body, "read") or hasattr(body, "__aiter__"):
        return
    if hasattr(body, "__iter__"):
        return
    raise TypeError(
        "body must be str, bytes-like, a ReadableStream, an (async) iterable of bytes, a "
        f"binary file or Path, an awaitable or a callable returning one, got {body!r}"
    )


def start_body(sock: Socket, body: Any) -> None:
    writer = sock._writable.get_writer()
    task = sock._loop.create_task(_send_body(sock, body, writer))
    sock._body_task = task

    def done(t: Any) -> None:
        if not t.cancelled() and (exc := t.exception()) is not None:
            sock._abort(exc)

    task.add_done_callback(done)


async def _send_body(sock: Socket, body: Any, writer: Any) -> None:
    if sock._fast_open is not None:
        await sock._ready  # the connect sent what the SYN could carry
        rest = sock._fast_open[sock._fast_open_sent :]
        if rest:
            writer.write(rest)
        await writer.close()
        return
    for _ in range(8):
        if hasattr(body, "__await__"):
            body = await body
        elif callable(body) and not isinstance(body, ReadableStream):
            body = body()
        else:
            break
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes | bytearray | memoryview):
        if len(body):
            writer.write(body)
        await writer.close()
        return
    if isinstance(body, ReadableStream):
        writer.release_lock()
        await body.pipe_to(sock._writable)
        return
    if isinstance(body, pathlib.PurePath):
        with open(body, "rb") as file:  # noqa: ASYNC230 - local file, opened once
            await _send_file(sock, file, writer)
        return
    if hasattr(body, "read"):
        await _send_file(sock, body, writer)
        return
    if hasattr(body, "__aiter__"):
        async for chunk in body:
            await writer.ready
            writer.write(chunk.encode() if isinstance(chunk, str) else chunk)
    elif hasattr(body, "__iter__"):
        for chunk in body:
            await writer.ready
            writer.write(chunk.encode() if isinstance(chunk, str) else chunk)
    else:
        raise TypeError(f"body resolved to an unsupported value: {body!r}")
    await writer.close()


async def _send_file(sock: Socket, file: Any, writer: Any) -> None:
    await sock._ready
    transport = sock._transport
    if (
        sock._tls is None
        and transport is not None
        and isinstance(transport, asyncio.Transport)
        and hasattr(file, "fileno")
    ):
        try:
            await writer.ready
            loop = cast(asyncio.AbstractEventLoop, sock._loop)  # an asyncio transport's
            sent = await loop.sendfile(transport, file, fallback=False)
            sock._bytes_written += sent
            await writer.close()
            return
        except (NotImplementedError, RuntimeError, AttributeError, io.UnsupportedOperation):
            pass
        except asyncio.SendfileNotAvailableError:
            pass
    while True:
        chunk = file.read(256 * 1024)
        if not chunk:
            break
        await writer.ready
        writer.write(chunk)
    await writer.close()
