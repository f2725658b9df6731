"""What every check shares: the pair factory protocol, flipping, bounded waits, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .. import Socket
from .._runtime import current, running_trio
from ..streams import ReadableStream, ReadableStreamBYOBReader, ReadableStreamDefaultReader

__all__ = [
    "Pair",
    "PairFactory",
    "TLSMaterial",
    "bounded",
    "byob_reader",
    "default_reader",
    "expect_error",
    "first_difference",
    "flipped",
    "read_all",
    "now",
    "run_all",
    "settled",
    "sleep",
    "start",
]

T = TypeVar("T")

Pair = tuple[Socket, Socket]
"""Two open sockets connected to each other: what ``a`` writes, ``b`` reads, and back."""


class PairFactory(Protocol):
    """Makes a connected pair, as an async context manager that cleans it up on exit.

    ``options`` are ``SocketInit`` fields the checks need on *both* ends:
    ``allow_half_open``, ``idle_timeout``, ``send_buffer_size`` and
    ``receive_buffer_size``. A factory applies each one to both sockets as far as its
    transport allows (through the listener's options for an accepted socket). On exit
    the factory aborts whatever is still open and waits for it to settle, so a failing
    check never leaks a socket, a file descriptor or a task.

    Every factory in :mod:`unisock.testing.pairs` has this shape; write your own to run
    the checks over a transport of yours (a proxy, a tunnel, another peer program).
    """

    def __call__(self, **options: Any) -> contextlib.AbstractAsyncContextManager[Pair]: ...


@dataclass(frozen=True)
class TLSMaterial:
    """A server's certificate chain and key, and the CA a client trusts for it.

    The kit takes PEM bytes (or anything unisock's ``cert``/``key``/``ca`` take) from
    the caller rather than minting certificates itself, so importing it needs no
    certificate library; tests usually make these with ``trustme``.
    """

    cert: Any
    """The server's certificate chain, leaf first."""
    key: Any
    """The server's private key."""
    ca: Any
    """What the client trusts (replaces the system store for the client socket)."""
    servername: str = "localhost"
    """The name the client sends as SNI and checks against ``cert``."""

    def client_options(self) -> dict[str, Any]:
        """The client side's TLS fields (for ``Socket(...)`` or ``update(...)``)."""
        return {"ca": self.ca, "servername": self.servername}

    def server_options(self) -> dict[str, Any]:
        """The server side's TLS fields (for ``SocketListener(...)`` or ``update(...)``)."""
        return {"cert": self.cert, "key": self.key}


def flipped(make_pair: PairFactory) -> PairFactory:
    """The same pairs with the ends swapped, so one-way checks run the other direction.

    Many faults live on one side only (a server-side read path, a client-side flush),
    which a check that always writes from the connecting end would never see.
    """

    @contextlib.asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[Pair]:
        async with make_pair(**options) as (a, b):
            yield b, a

    return make


@contextlib.asynccontextmanager
async def settled(*socks: Socket) -> AsyncIterator[None]:
    """Abort what is still open when the block ends and wait for it to settle.

    Pair factories wrap their sockets in this so that a failed check leaves nothing
    running; aborting an already closed socket changes nothing.
    """
    try:
        yield
    finally:
        for sock in socks:
            await sock.abort()
        for sock in socks:
            with contextlib.suppress(Exception):
                await sock.closed


def _trio() -> Any:
    """The trio module when the caller runs on trio, else None: the kit runs on every
    runtime unisock runs on, and these few helpers (a bounded wait, concurrency, sleeping,
    the clock) are the only places where the runtimes differ."""
    return running_trio()


async def sleep(seconds: float) -> None:
    """Sleep on the caller's runtime."""
    trio = _trio()
    if trio is not None:
        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


def now() -> float:
    """The caller's runtime clock, in seconds."""
    trio = _trio()
    return float(trio.current_time()) if trio is not None else asyncio.get_running_loop().time()


def start(coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
    """Run ``coro`` as a task of unisock's runtime now; await the result to join it."""
    return current().create_task(coro)


async def bounded(awaitable: Awaitable[T], within: float, what: str) -> T:
    """Await with a bound; a hang becomes an ``AssertionError`` that says what hung."""
    trio = _trio()
    if trio is not None:
        with trio.move_on_after(within):
            return await awaitable
        raise AssertionError(f"{what}: nothing after {within} s")
    try:
        return await asyncio.wait_for(_as_coroutine(awaitable), within)
    except TimeoutError as exc:
        if type(exc) is TimeoutError:  # wait_for's own; unisock's is a subclass
            raise AssertionError(f"{what}: nothing after {within} s") from None
        raise


async def wait_for(awaitable: Awaitable[T], within: float) -> T:
    """``asyncio.wait_for`` on any runtime: the builtin ``TimeoutError`` past ``within``."""
    trio = _trio()
    if trio is not None:
        with trio.move_on_after(within):
            return await awaitable
        raise TimeoutError
    return await asyncio.wait_for(_as_coroutine(awaitable), within)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def run_all(*awaitables: Awaitable[Any]) -> list[Any]:
    """Run coroutines (or await tasks) concurrently; if one fails, cancel the rest and
    raise its error.

    A plain ``gather`` would leave the others running after a failure, and a check must
    never leave tasks behind (they would fail the next test, not this one).
    """
    coros = [a if isinstance(a, Coroutine) else _as_coroutine(a) for a in awaitables]
    trio = _trio()
    if trio is not None:
        results: list[Any] = [None] * len(coros)

        async def one(i: int, coro: Coroutine[Any, Any, Any]) -> None:
            results[i] = await coro

        try:
            async with trio.open_nursery() as nursery:
                for i, coro in enumerate(coros):
                    nursery.start_soon(one, i, coro)
        except BaseExceptionGroup as eg:
            errors = [e for e in eg.exceptions if not isinstance(e, trio.Cancelled)]
            if len(errors) == 1:
                raise errors[0] from None
            raise
        return results
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        errors = [e for e in eg.exceptions if not isinstance(e, asyncio.CancelledError)]
        if len(errors) == 1:
            raise errors[0] from None
        raise
    return [t.result() for t in tasks]


def default_reader(stream: ReadableStream[Any] | None) -> ReadableStreamDefaultReader:
    """``stream.get_reader()``, checked to be a default reader."""
    if stream is None:
        raise AssertionError("the socket has no readable")
    reader = stream.get_reader()
    if not isinstance(reader, ReadableStreamDefaultReader):
        raise AssertionError(f"get_reader() returned {type(reader).__name__}")
    return reader


def byob_reader(stream: ReadableStream[Any] | None) -> ReadableStreamBYOBReader:
    """``stream.get_reader(mode="byob")``, checked to be a BYOB reader."""
    if stream is None:
        raise AssertionError("the socket has no readable")
    reader = stream.get_reader(mode="byob")
    if not isinstance(reader, ReadableStreamBYOBReader):
        raise AssertionError(f"get_reader(mode='byob') returned {type(reader).__name__}")
    return reader


async def read_all(sock: Socket, within: float = 30) -> bytes:
    """Everything ``sock.readable`` delivers until its end."""
    reader = default_reader(sock.readable)
    parts: list[bytes] = []
    try:
        while True:
            result = await bounded(reader.read(), within, "reading to the end")
            if result.done:
                return b"".join(parts)
            parts.append(result.value)
    finally:
        reader.release_lock()


async def expect_error(
    awaitable: Awaitable[Any],
    kinds: type[BaseException] | tuple[type[BaseException], ...],
    what: str,
    within: float = 10,
) -> BaseException:
    """Await something that must fail with one of ``kinds``; return the error."""
    try:
        value = await bounded(awaitable, within, what)
    except kinds as exc:
        return exc
    raise AssertionError(f"{what}: expected {kinds}, got the value {value!r}")


def first_difference(got: bytes, expected: bytes) -> str:
    """Where two byte strings part, for a failure message that helps."""
    for i, (x, y) in enumerate(zip(got, expected, strict=False)):
        if x != y:
            return f"first difference at byte {i} of {len(expected)}"
    return f"got {len(got)} bytes, expected {len(expected)}"
