"""anyio adapters: a unisock socket as an ``anyio.abc.ByteStream``, a listener as an
``anyio.abc.Listener``.

anyio cannot load third-party backends, so unisock meets anyio users here instead: code
written against anyio's stream ABCs (``receive``/``send``/``send_eof``/``aclose``, typed
attributes, ``anyio.streams.buffered``, ``anyio.streams.text``, ``Listener.serve``) runs
on unisock sockets, on anyio's asyncio and trio backends alike (unisock finds the
running one itself; under trio, TCP and TLS for now).  Errors are anyio's:
``EndOfStream`` at the peer's end, ``BrokenResourceError`` for a reset, a failed TLS
record or a timeout, ``ClosedResourceError`` after ``aclose()``.

    stream = await unisock.anyio.connect(remote="example.org:443", type="tls")
    await stream.send(b"...")

Importing this module needs anyio (``pip install 'unisock[anyio]'``); ``import unisock``
never does.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

from . import errors
from ._api.listener import SocketListener as _Listener
from ._api.socket import Socket
from ._api.socket import connect as _connect

__all__ = ["SocketListener", "SocketStream", "connect", "listen"]

_BROKEN = (errors.NetworkError, errors.TLSError, errors.TimeoutError, errors.AbortError)


class SocketStream(anyio.abc.ByteStream):
    """A connected unisock socket (``.socket``) behind anyio's byte stream interface."""

    def __init__(self, sock: Socket) -> None:
        self.socket = sock
        self._reader: Any = sock.readable.get_reader()
        self._writer = sock.writable.get_writer()
        self._rest = b""
        self._closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._closed:
            raise anyio.ClosedResourceError
        chunk = self._rest
        if not chunk:
            try:
                result = await self._reader.read()
            except _BROKEN as exc:
                raise anyio.BrokenResourceError(str(exc)) from exc
            if result.done:
                raise anyio.EndOfStream
            chunk = bytes(result.value)
        self._rest = chunk[max_bytes:]
        return chunk[:max_bytes]

    async def send(self, item: bytes) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        try:
            await self._writer.write(item)
        except _BROKEN as exc:
            raise anyio.BrokenResourceError(str(exc)) from exc
        except TypeError as exc:  # the writable was closed by send_eof()
            raise anyio.ClosedResourceError from exc

    async def send_eof(self) -> None:
        """Half-close: FIN after what was sent; receiving goes on."""
        try:
            await self._writer.close()
        except _BROKEN as exc:
            raise anyio.BrokenResourceError(str(exc)) from exc

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.socket.close()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        sock = self.socket
        info = sock.info
        attributes: dict[Any, Callable[[], Any]] = {}
        raw = sock._transport.get_extra_info("socket") if sock._transport is not None else None
        if raw is not None:
            attributes[SocketAttribute.raw_socket] = lambda: raw
            attributes[SocketAttribute.family] = lambda: socket.AddressFamily(raw.family)
        if info.local is not None:
            local = info.local
            attributes[SocketAttribute.local_address] = lambda: _anyio_address(local)
            if local.path is None:
                attributes[SocketAttribute.local_port] = lambda: local.port
        if info.remote is not None:
            remote = info.remote
            attributes[SocketAttribute.remote_address] = lambda: _anyio_address(remote)
            if remote.path is None:
                attributes[SocketAttribute.remote_port] = lambda: remote.port
        ssl_object = sock._tls._sslobj if sock._tls is not None else None
        if ssl_object is not None:
            attributes.update(
                {
                    TLSAttribute.ssl_object: lambda: ssl_object,
                    TLSAttribute.server_side: lambda: ssl_object.server_side,
                    TLSAttribute.tls_version: ssl_object.version,
                    TLSAttribute.cipher: ssl_object.cipher,
                    TLSAttribute.alpn_protocol: ssl_object.selected_alpn_protocol,
                    TLSAttribute.peer_certificate: lambda: ssl_object.getpeercert(False),
                    TLSAttribute.peer_certificate_binary: lambda: ssl_object.getpeercert(True),
                    TLSAttribute.shared_ciphers: ssl_object.shared_ciphers,
                    TLSAttribute.standard_compatible: lambda: True,
                }
            )
        return attributes


def _anyio_address(address: Any) -> Any:
    """anyio's form: a path string for Unix sockets, else ``(host, port)``."""
    return address.path if address.path is not None else (address.address, address.port)


class SocketListener(anyio.abc.Listener[SocketStream]):
    """A unisock listener (``.listener``) behind anyio's listener interface."""

    def __init__(self, listener: _Listener) -> None:
        self.listener = listener

    async def serve(
        self,
        handler: Callable[[SocketStream], Any],
        task_group: anyio.abc.TaskGroup | None = None,
    ) -> None:
        """Accept until the listener closes; each stream goes to ``handler`` in a task."""
        if task_group is None:
            async with anyio.create_task_group() as group:
                await self._serve(handler, group)
        else:
            await self._serve(handler, task_group)

    async def _serve(self, handler: Callable[[SocketStream], Any], group: Any) -> None:
        while True:
            try:
                sock = await self.listener.accept()
            except errors.InvalidStateError:
                return  # closed
            group.start_soon(handler, SocketStream(sock))

    async def aclose(self) -> None:
        await self.listener.close()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        local = self.listener.local
        if local is None:
            return {}
        attributes: dict[Any, Callable[[], Any]] = {
            SocketAttribute.local_address: lambda: _anyio_address(local)
        }
        if local.path is None:
            attributes[SocketAttribute.local_port] = lambda: local.port
        return attributes


async def connect(**fields: Any) -> SocketStream:
    """``unisock.connect(**fields)`` (connected and handshaken) as an anyio byte stream."""
    return SocketStream(await _connect(**fields))


async def listen(**fields: Any) -> SocketListener:
    """A ``unisock.SocketListener(**fields)``, listening, as an anyio listener."""
    listener = _Listener(**fields)
    await listener.ready
    return SocketListener(listener)
