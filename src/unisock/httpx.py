"""httpx (and httpcore) on unisock sockets: ``pip install 'unisock[httpx]'``.

httpx does no I/O itself: its transport hands every connection to an httpcore *network
backend*.  :class:`UnisockBackend` is one, built on :class:`unisock.Socket`: plain TCP for
each connection, TLS by STARTTLS in place (``update(type="tls", ssl_context=...)``, with
the ``ssl.SSLContext`` httpx built from ``verify=``/``cert=``, so trust, verification and
ALPN are httpx's), for HTTPS origins and for HTTPS through an HTTP ``CONNECT`` proxy alike.

::

    import httpx
    import unisock.httpx

    async with httpx.AsyncClient(transport=unisock.httpx.AsyncHTTPTransport(http2=True)) as c:
        r = await c.get("https://example.org/")

:class:`AsyncHTTPTransport` takes what ``httpx.AsyncHTTPTransport`` takes (``verify``,
``cert``, ``http2``, ``limits``, ``proxy``, ``local_address``, ``retries``,
``socket_options``); with plain httpcore, pass ``network_backend=UnisockBackend()`` to
``httpcore.AsyncConnectionPool`` (or ``AsyncHTTPProxy``).  ``uds=`` runs over a unisock
Unix socket.  Not yet: TLS inside TLS (an ``https://`` proxy to an HTTPS
origin), SOCKS proxies' TLS (the same STARTTLS path; untested), and the sync
``httpx.Client`` (unisock is async).

Importing this module needs httpx and httpcore 1.x; ``import unisock`` never does.
"""

# ruff: noqa: ASYNC109 - httpcore's interface takes timeout= arguments

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any, TypeAlias

try:
    import httpcore
    import httpx
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError(
        f"unisock.httpx needs httpx and httpcore ({exc}): pip install 'unisock[httpx]'"
    ) from exc

from . import errors
from ._api.socket import Socket, connect
from ._runtime import bounded, sleep
from .streams import ReadableStreamDefaultReader

__all__ = ["AsyncHTTPTransport", "UnisockBackend", "UnisockStream", "httpcore2_backend"]

SocketOption: TypeAlias = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
"""What httpcore's ``socket_options`` holds: ``setsockopt`` arguments."""


_READ_FAILURES = (OSError, errors.TLSError, errors.AbortError, errors.InvalidStateError)
"""What a failed read raises (``NetworkError`` is an ``OSError``); ``TimeoutError``, an
``OSError`` too, is caught before them."""

_WRITE_FAILURES = (*_READ_FAILURES, TypeError)
"""A write to a writable that the connection's end has closed rejects with ``TypeError``
(as WHATWG streams do)."""


async def _bounded(awaitable: Any, seconds: float | None) -> Any:
    if seconds is None:
        return await awaitable
    return await bounded(awaitable, seconds)


class UnisockStream(httpcore.AsyncNetworkStream):
    """One httpcore connection: a :class:`unisock.Socket`, its reader and its writer.

    ``start_tls`` upgrades the same socket in place and returns this stream.
    """

    _hc: Any = httpcore
    """The httpcore module whose exceptions this stream raises (httpcore, or httpcore2)."""

    def __init__(self, sock: Socket) -> None:
        self.socket = sock
        """The unisock socket (its ``info`` and ``stats`` are there)."""
        reader = sock.readable.get_reader()
        assert isinstance(reader, ReadableStreamDefaultReader)
        self._reader = reader
        self._writer = sock.writable.get_writer()
        self._rest = b""  # what a chunk held beyond the last read's max_bytes

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        rest = self._rest
        if rest:
            self._rest = rest[max_bytes:]
            return rest[:max_bytes]
        pending = self._reader.read()
        try:
            result = pending.result() if pending.done() else await _bounded(pending, timeout)
        except TimeoutError as exc:  # the bound's, or the socket's idle_timeout
            raise self._hc.ReadTimeout(str(exc) or f"no data in {timeout:g} s") from exc
        except _READ_FAILURES as exc:
            raise self._hc.ReadError(str(exc)) from exc
        if result.done:
            return b""
        chunk: bytes = result.value
        if len(chunk) > max_bytes:
            self._rest = chunk[max_bytes:]
            return chunk[:max_bytes]
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            pending = self._writer.write(buffer)
            if not pending.done():
                await _bounded(pending, timeout)
            else:
                pending.result()
        except TimeoutError as exc:
            raise self._hc.WriteTimeout(str(exc) or f"write not taken in {timeout:g} s") from exc
        except _WRITE_FAILURES as exc:
            raise self._hc.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        sock = self.socket
        try:
            await sock.close()
        except Exception:  # already failed or aborted: nothing left to flush
            await sock.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        sock = self.socket
        if self._is_tls():
            await sock.abort()
            raise self._hc.ConnectError(
                "TLS inside TLS (an https:// proxy in front of an HTTPS origin) is not "
                "supported on unisock yet: use an http:// proxy URL"
            )
        fields: dict[str, Any] = {"ssl_context": ssl_context, "ready_timeout": timeout or 0}
        if server_hostname:
            fields["servername"] = server_hostname
        try:
            await sock.update(type="tls", **fields)
        except TimeoutError as exc:
            raise self._hc.ConnectTimeout(str(exc)) from exc
        except (*_READ_FAILURES, ValueError) as exc:
            await sock.abort()
            raise self._hc.ConnectError(str(exc)) from exc
        return self

    def _is_tls(self) -> bool:
        transport = self.socket._transport
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    def get_extra_info(self, info: str) -> Any:
        sock = self.socket
        if info == "ssl_object":  # the handshake's ssl.SSLObject (httpcore reads its ALPN)
            transport = sock._transport
            return None if transport is None else transport.get_extra_info("ssl_object")
        if info == "client_addr":
            local = sock.info.local
            return None if local is None else (local.address, local.port)
        if info == "server_addr":
            remote = sock.info.remote
            return None if remote is None else (remote.address, remote.port)
        if info == "socket":
            transport = sock._transport
            return None if transport is None else transport.get_extra_info("socket")
        if info == "is_readable":
            return self._is_readable()
        return None

    def _is_readable(self) -> bool:
        """Whether a read would return at once: httpcore asks this of an idle pooled
        connection, where anything (bytes, the peer's EOF, an error) means it is spent.

        unisock reads the OS socket eagerly into the readable's queue, so the question
        is asked of that queue and the stream's state, not of the file descriptor.
        """
        if self._rest:
            return True
        sock = self.socket
        readable = sock._readable
        return sock._state == "closed" or readable._state != "readable" or bool(sock._rctrl._queue)


class UnisockBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend whose connections are :class:`unisock.Socket`\\ s."""

    _hc: Any = httpcore

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        fields: dict[str, Any] = {
            "remote": (host, port),
            "no_delay": True,  # as asyncio's own transports, which httpcore expects
            "ready_timeout": timeout or 0,
        }
        if local_address:
            fields["local"] = (local_address, 0)
        return await self._connect(fields, socket_options)

    async def _connect(
        self, fields: dict[str, Any], socket_options: Iterable[SocketOption] | None
    ) -> httpcore.AsyncNetworkStream:
        try:
            sock = await connect(**fields)
        except TimeoutError as exc:
            raise self._hc.ConnectTimeout(str(exc)) from exc
        except (*_READ_FAILURES, ValueError) as exc:
            raise self._hc.ConnectError(str(exc)) from exc
        stream = UnisockStream(sock)
        stream._hc = self._hc
        if socket_options:
            raw = stream.get_extra_info("socket")
            try:
                for option in socket_options:
                    raw.setsockopt(*option)
            except OSError as exc:
                await sock.abort()
                raise self._hc.ConnectError(f"socket option {option!r}: {exc}") from exc
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """``uds=``: HTTP over a Unix socket (httpcore hands the path here)."""
        fields = {"remote": {"path": path}, "ready_timeout": timeout or 0}
        return await self._connect(fields, socket_options)

    async def sleep(self, seconds: float) -> None:
        await sleep(seconds)


class AsyncHTTPTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (same arguments, same errors) whose connections all run
    on unisock sockets, through a proxy too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pool = self._pool
        if not hasattr(pool, "_network_backend"):  # pragma: no cover - another httpcore
            raise RuntimeError(
                f"unisock.httpx supports httpcore 1.x; this httpcore's "
                f"{type(pool).__name__} takes no network backend where 1.x does"
            )
        pool._network_backend = UnisockBackend()


def httpcore2_backend() -> UnisockBackend:
    """The same backend for httpcore2 (``network_backend=`` of its connection pools): its
    interface is httpcore 1.x's, and the errors raised are httpcore2's own."""
    import httpcore2

    backend = UnisockBackend()
    backend._hc = httpcore2
    return backend
