"""trio adapters: a unisock socket as a ``trio.abc.HalfCloseableStream``, a listener as a
``trio.abc.Listener``.

Code written against trio's stream ABCs (``send_all``/``receive_some``/``send_eof``/
``aclose``, ``trio.serve_listeners``, ``trio.StapledStream``, a protocol library that
takes any ``trio.abc.Stream``) runs on unisock TCP and TLS sockets under ``trio.run``,
and passes ``trio.testing.check_half_closeable_stream``.  Errors are trio's:
``BrokenResourceError`` for a reset, a failed TLS record or a timeout;
``ClosedResourceError`` once this end closed (or, for sending, after ``send_eof()``);
``BusyResourceError`` when two tasks send (or two receive) at once.  ``receive_some``
returns ``b""`` at the peer's end.

    stream = await unisock.trio.connect(remote="example.org:443", type="tls")
    await stream.send_all(b"...")

A wrapped socket should have ``allow_half_open=True`` (``connect`` and ``listen`` here set
it) so that, as trio's streams promise, sending goes on after the peer's EOF.

Each call is a trio checkpoint, as trio's own streams are: that costs one scheduler pass
per call, on top of unisock's own path, which this module leaves as it is.  Importing it
needs trio (``pip install 'unisock[trio]'``); ``import unisock`` never does.
"""

from __future__ import annotations

import operator
from typing import Any

import trio
import trio.abc

from . import errors
from ._api.listener import SocketListener as _Listener
from ._api.socket import Socket
from ._api.socket import connect as _connect

__all__ = ["SocketListener", "SocketStream", "connect", "listen"]

_BROKEN = (errors.NetworkError, errors.TLSError, errors.TimeoutError, errors.AbortError)
_SEND_ERRORS = (*_BROKEN, TypeError, errors.InvalidStateError)
"""What a write or ``ready`` can reject with: the four above, or the writable's own
``TypeError`` once it is closed."""

DEFAULT_RECEIVE_SIZE = 65536
"""What ``receive_some()`` returns at most when no ``max_bytes`` is given."""


class SocketStream(trio.abc.HalfCloseableStream):
    """A connected unisock socket (``.socket``) behind trio's half-closeable stream."""

    def __init__(self, sock: Socket) -> None:
        self.socket = sock
        self._reader: Any = sock.readable.get_reader()
        self._writer = sock.writable.get_writer()
        self._rest: memoryview | None = None  # what a short receive_some left of a chunk
        self._closed = False
        self._eof_sent = False
        self._sending: str | None = None  # the send-side call in progress
        self._receiving = False

    # -- sending ---------------------------------------------------------------------

    def _begin_send(self, what: str) -> None:
        if self._sending is not None:
            raise trio.BusyResourceError(f"another task is in {self._sending}() on this stream")
        if self._closed:
            raise trio.ClosedResourceError("the stream was closed")
        self._sending = what

    def _send_error(self, exc: Exception) -> Exception:
        """What a failed write or wait becomes: closed (by us) or broken."""
        if self._closed:
            return trio.ClosedResourceError("the stream was closed")
        if isinstance(exc, _BROKEN):
            return trio.BrokenResourceError(str(exc))
        # The writable was closed under the stream (the socket closed on its own).
        return trio.ClosedResourceError(str(exc) or "the socket's writable is closed")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._begin_send("send_all")
        try:
            if self._eof_sent:
                raise trio.ClosedResourceError("cannot send after send_eof()")
            await trio.lowlevel.checkpoint()
            if not len(data):
                return
            try:
                # bytes as they are; a copy of anything mutable, since the transport may
                # still hold the chunk when this returns.
                await self._writer.write(bytes(data))
            except _SEND_ERRORS as exc:
                raise self._send_error(exc) from exc
        finally:
            self._sending = None

    async def wait_send_all_might_not_block(self) -> None:
        """Wait out backpressure: until the writable wants more (``writer.ready``)."""
        self._begin_send("wait_send_all_might_not_block")
        try:
            await trio.lowlevel.checkpoint()
            try:
                await self._writer.ready
            except _SEND_ERRORS as exc:
                raise self._send_error(exc) from exc
            if self._closed:
                raise trio.ClosedResourceError("the stream was closed")
        finally:
            self._sending = None

    async def send_eof(self) -> None:
        """Half-close (TCP FIN, TLS close_notify) after what was sent; receiving goes on."""
        self._begin_send("send_eof")
        try:
            await trio.lowlevel.checkpoint()
            if self._eof_sent:
                return
            self._eof_sent = True
            try:
                await self._writer.close()
            except _SEND_ERRORS as exc:
                raise self._send_error(exc) from exc
        finally:
            self._sending = None

    # -- receiving -------------------------------------------------------------------

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is None:
            max_bytes = DEFAULT_RECEIVE_SIZE
        else:
            max_bytes = operator.index(max_bytes)
            if max_bytes < 1:
                raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        if self._receiving:
            raise trio.BusyResourceError("another task is in receive_some() on this stream")
        if self._closed:
            raise trio.ClosedResourceError("the stream was closed")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint()
            rest = self._rest
            if rest is None:
                try:
                    result = await self._reader.read()
                except _BROKEN as exc:
                    if self._closed:
                        raise trio.ClosedResourceError("the stream was closed") from exc
                    raise trio.BrokenResourceError(str(exc)) from exc
                if self._closed:
                    raise trio.ClosedResourceError("the stream was closed")
                if result.done:
                    return b""
                chunk = result.value
                if len(chunk) <= max_bytes:
                    return bytes(chunk)
                rest = memoryview(chunk)
            elif self._closed:
                raise trio.ClosedResourceError("the stream was closed")
            self._rest = rest[max_bytes:] if len(rest) > max_bytes else None
            return bytes(rest[:max_bytes])
        finally:
            self._receiving = False

    # -- closing ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close gracefully (flush, FIN); if cancelled meanwhile, abort (RST) instead.

        Either way the stream is closed when this returns or raises: calls blocked in
        it wake with ``ClosedResourceError``, and later calls raise it."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        self._rest = None
        sock = self.socket
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            await sock.close()
        except BaseException:  # cancelled (trio.Cancelled is no Exception): abort
            await sock.abort(errors.AbortError("the stream was closed forcefully"))
            raise
        await trio.lowlevel.cancel_shielded_checkpoint()


class SocketListener(trio.abc.Listener[SocketStream]):
    """A unisock listener (``.listener``) behind trio's listener interface."""

    def __init__(self, listener: _Listener) -> None:
        self.listener = listener

    async def accept(self) -> SocketStream:
        await trio.lowlevel.checkpoint()
        try:
            sock = await self.listener.accept()
        except errors.InvalidStateError as exc:
            raise trio.ClosedResourceError("the listener was closed") from exc
        return SocketStream(sock)

    async def aclose(self) -> None:
        try:
            await self.listener.close()
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()


async def connect(**fields: Any) -> SocketStream:
    """``unisock.connect(**fields)`` (connected and handshaken) as a trio stream;
    ``allow_half_open`` defaults to ``True``, as trio's streams behave."""
    fields.setdefault("allow_half_open", True)
    return SocketStream(await _connect(**fields))


async def listen(**fields: Any) -> SocketListener:
    """A ``unisock.SocketListener(**fields)``, listening, as a trio listener (for
    ``trio.serve_listeners``); accepted sockets default to ``allow_half_open=True``."""
    fields.setdefault("allow_half_open", True)
    listener = _Listener(**fields)
    await listener.ready
    return SocketListener(listener)
