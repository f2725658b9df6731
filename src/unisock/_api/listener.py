"""``SocketListener``: accepts connections and hands each over as a ready ``Socket``.

Sockets are delivered to ``"socket"`` event listeners when there are any, otherwise queued
for ``async for event in listener``.  A TLS socket is delivered only once its handshake is
done, so a peer that stalls or sends garbage never reaches user code and never stops the
listener from accepting.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Mapping
from typing import Any, Unpack

from .._base.address import SocketAddress
from .._base.deferred import Deferred
from .._base.kwargs import SocketListenerKwargs, SocketListenerUpdateKwargs
from .._base.options import ListenerOptions, SocketListenerInit
from .._runtime import CancelledError, current
from .._runtime.base import Task
from ..errors import NetworkError
from ..events import Event, EventTarget
from .channel import _StreamProtocol
from .driver import driver
from .socket import Socket
from .socket_events import ErrorEvent, SocketEvent

__all__ = ["SocketListener"]


class _AcceptedProtocol(_StreamProtocol):
    __slots__ = ("_listener",)

    def __init__(self, sock: Socket, listener: SocketListener) -> None:
        super().__init__(sock)
        self._listener = listener

    def connection_made(self, transport: Any) -> None:
        sock = self._socket
        sock._attach(transport)
        self._listener._accepted(sock, transport)


class SocketListener(EventTarget):
    """Listens on ``local`` (default 127.0.0.1, an ephemeral port) for ``type`` sockets."""

    __slots__ = (
        "_closed",
        "_driver",
        "_handle",
        "_loop",
        "_opts",
        "_queue",
        "_ready",
        "_server",
        "_server_config",
        "_state",
        "_waiters",
        "local",
    )

    def __init__(
        self,
        init: SocketListenerInit | Mapping[str, Any] | None = None,
        /,
        **kwargs: Unpack[SocketListenerKwargs],
    ) -> None:
        super().__init__()
        opts = SocketListenerInit.parse(init, kwargs)
        try:
            loop = current()
        except RuntimeError:
            raise RuntimeError(
                "SocketListener() needs a running event loop: create it inside async code"
            ) from None
        self._loop = loop
        self._opts: ListenerOptions = opts
        self._driver = driver(opts.transport)
        self._driver.check_runtime(loop)
        # Bad key/cert/ca fail here, naming the field; the config serves every connection.
        self._server_config = self._driver.check_listener(self)
        self._state = "opening"
        self._server: Any = None
        self._handle: Any = None
        self.local: SocketAddress | None = None
        self._ready: Deferred[SocketAddress] = Deferred()
        self._closed: Deferred[None] = Deferred()
        self._queue: deque[SocketEvent] = deque()
        self._waiters: deque[Deferred[None]] = deque()
        if opts.signal is not None:
            if opts.signal.aborted:
                self._fail(_reason(opts.signal.reason))
                return
            remove = opts.signal._add_algorithm(self._shutdown)
            self._closed.add_done_callback(lambda _: remove())
        task = loop.create_task(self._open())
        task.add_done_callback(self._opened)

    # -- public -----------------------------------------------------------------------
    @property
    def ready(self) -> Deferred[SocketAddress]:
        """Resolves to the bound ``local`` address once listening."""
        return self._ready

    @property
    def closed(self) -> Deferred[None]:
        return self._closed

    async def update(
        self,
        init: Mapping[str, Any] | None = None,
        /,
        **kwargs: Unpack[SocketListenerUpdateKwargs],
    ) -> None:
        """Swap a TLS listener's ``cert``/``key``/``ca``/``sni`` without a restart (the
        connections accepted from then on use them), or change a UDP listener's broadcast
        and multicast fields."""
        from .listener_update import update_listener

        await update_listener(self, init, kwargs)

    async def close(self) -> None:
        """Stop accepting; sockets already handed out stay open."""
        self._shutdown()
        with contextlib.suppress(Exception):
            await self._closed

    def __aiter__(self) -> SocketListener:
        return self

    async def __anext__(self) -> SocketEvent:
        """The next accepted socket; ends when the listener closes."""
        while not self._queue:
            if self._state == "closed":
                if self._closed.is_rejected():
                    raise self._closed.exception()  # type: ignore[misc]
                raise StopAsyncIteration
            waiter: Deferred[None] = Deferred()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # A cancelled wait (e.g. ``wait_for`` timing out) withdraws its waiter,
                # and hands a wake-up it already received to the next waiter, so no
                # queued socket is left waiting for a wake-up nobody will see.
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._queue and self._waiters:
                    self._waiters.popleft().resolve(None)
                raise
        return self._queue.popleft()

    async def accept(self) -> Socket:
        """The next accepted socket (ready: TLS handshakes are done).

        Raises ``InvalidStateError`` once the listener is closed, or the error it failed
        with.
        """
        try:
            event = await self.__anext__()
        except StopAsyncIteration:
            raise _closed_error() from None
        return event.socket

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.resolve(None)

    async def __aenter__(self) -> SocketListener:
        await self._ready
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<SocketListener {self._opts.transport} {self._state} local={self.local}>"

    # -- opening ----------------------------------------------------------------------
    async def _open(self) -> None:
        await self._driver.listen(self)

    def _opened(self, task: Task[None]) -> None:
        if task.cancelled():
            self._fail(CancelledError())
            return
        exc = task.exception()
        if exc is not None:
            if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
                from ..errors import network_error

                exc = network_error(exc, f"cannot listen on {self._opts.local}")
            self._fail(exc)
            return
        if self._state == "closed":
            self._close_handles()
            return
        self._state = "listening"
        assert self.local is not None
        self._ready.resolve(self.local)

    def _accept_failed(self, exc: BaseException) -> None:
        """The listening socket broke (not one connection, not a lack of resources)."""
        errno = exc.errno if isinstance(exc, OSError) else None
        self._fail(NetworkError(f"the listener on {self.local} cannot accept: {exc}", errno))

    def _make_protocol(self) -> _AcceptedProtocol:
        sock, _ = Socket._accepted(self._loop, self._opts.socket_options)
        protocol = _AcceptedProtocol(sock, self)
        sock._protocol = protocol
        return protocol

    def _accepted(self, sock: Socket, transport: Any) -> None:
        self._driver.accepted(self, sock, transport)

    def _deliver(self, sock: Socket) -> None:
        """Hand an open socket to the listeners, or queue it for ``async for``."""
        if self._state == "closed":
            sock._abort(None)
            return
        event = SocketEvent(sock)
        if self._listeners.get("socket"):
            self.dispatch_event(event)
        else:
            self._queue.append(event)
            if self._waiters:
                self._waiters.popleft().resolve(None)

    # -- closing ----------------------------------------------------------------------
    def _shutdown(self) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        self._close_handles()
        queued = list(self._queue)
        self._queue.clear()
        for event in queued:
            event.socket._abort(None)
        self._ready.reject(_closed_error())
        self._closed.resolve(None)
        self._wake()
        self.dispatch_event(Event("close"))

    def _close_handles(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._opts.sock is not None:  # adopted, and maybe never taken by the opener
            from .._transports.adopt import release_unclaimed

            release_unclaimed(self._opts.sock)

    def _fail(self, exc: BaseException) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        self._close_handles()
        self._ready.reject(exc)
        self._closed.reject(exc)
        self._wake()
        self.dispatch_event(ErrorEvent(exc))


def _reason(reason: Any) -> BaseException:
    from ..abort import as_exception

    return as_exception(reason)


def _closed_error() -> BaseException:
    from ..errors import InvalidStateError

    return InvalidStateError("the listener was closed")
