"""The runtime seam: exactly the loop services unisock uses, as a ``typing.Protocol``.

On asyncio and uvloop the runtime *is* the running event loop (its own methods, no
wrapper), so the per-chunk path is what it was.  On trio it is a small object
(``_runtime.trio.TrioRuntime``) that implements the same subset over trio's primitives.
Only the members named here may be used on a runtime; mypy checks both against them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

__all__ = ["Future", "Handle", "Runtime", "Task"]

T = TypeVar("T")


class Handle(Protocol):
    """A scheduled callback (``call_soon``/``call_at``/``call_later``)."""

    def cancel(self) -> None: ...


class Future(Protocol[T]):
    """What a waiting task awaits: settled once; cancelling it withdraws the wait."""

    def done(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def result(self) -> T: ...

    def exception(self) -> BaseException | None: ...

    def set_result(self, result: T, /) -> None: ...

    def set_exception(self, exception: type | BaseException, /) -> None: ...

    def cancel(self, msg: Any | None = None) -> bool: ...

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...

    def __await__(self) -> Generator[Any, None, T]: ...


class Task(Future[T], Protocol):
    """A coroutine running on behalf of the library (cancelled with what owns it)."""


class Runtime(Protocol):
    """The loop services: clock, callbacks, futures, tasks, readiness, names, TCP."""

    def time(self) -> float: ...

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Handle: ...

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Handle: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Handle: ...

    def create_future(self) -> Future[Any]: ...

    def create_task(self, coro: Coroutine[Any, Any, T]) -> Task[T]: ...

    def call_exception_handler(self, context: dict[str, Any]) -> None: ...

    def add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> None: ...

    def remove_reader(self, fd: Any) -> bool: ...

    def add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> None: ...

    def remove_writer(self, fd: Any) -> bool: ...

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, Any, int, str, Any]]: ...

    async def sock_connect(self, sock: socket.socket, address: Any) -> None: ...

    async def create_connection(
        self, protocol_factory: Callable[[], Any], host: Any = None, port: Any = None, *, sock: Any
    ) -> tuple[Any, Any]: ...

    async def connect_accepted_socket(
        self, protocol_factory: Callable[[], Any], sock: socket.socket
    ) -> tuple[Any, Any]: ...
