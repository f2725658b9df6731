"""unisock.trio: unisock sockets behind trio's HalfCloseableStream and Listener, run
through trio's own conformance checks (``trio.testing.check_half_closeable_stream``) over
real loopback TCP and TLS pairs, and served with ``trio.serve_listeners``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
import trustme

import unisock.trio

pytestmark = pytest.mark.trio(only=True)

Maker = Callable[[], Awaitable[tuple[unisock.trio.SocketStream, unisock.trio.SocketStream]]]

CLOG_BUFFER = 4096
"""send/receive_buffer_size of the clogged pairs: small kernel buffers and high-water
marks, so a few writes fill every buffer between the two ends and send_all blocks."""


@pytest.fixture(scope="module")
def tls_fields() -> tuple[dict[str, Any], dict[str, Any]]:
    """(listener fields, client fields) for TLS with a throwaway CA."""
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    server = {
        "type": "tls",
        "cert": b"".join(blob.bytes() for blob in leaf.cert_chain_pems),
        "key": leaf.private_key_pem.bytes(),
    }
    client = {"type": "tls", "ca": ca.cert_pem.bytes(), "servername": "localhost"}
    return server, client


@contextlib.asynccontextmanager
async def makers(
    server_fields: dict[str, Any], client_fields: dict[str, Any]
) -> AsyncIterator[tuple[Maker, Maker]]:
    """(stream maker, clogged stream maker) over one listener each, for trio's checks."""
    plain = await unisock.trio.listen(local="127.0.0.1:0", **server_fields)
    small = {"send_buffer_size": CLOG_BUFFER, "receive_buffer_size": CLOG_BUFFER}
    tight = await unisock.trio.listen(local="127.0.0.1:0", **server_fields, **small)

    async def pair(
        listener: unisock.trio.SocketListener, **fields: Any
    ) -> tuple[unisock.trio.SocketStream, unisock.trio.SocketStream]:
        remote = listener.listener.local
        async with trio.open_nursery() as nursery:
            accepted: list[unisock.trio.SocketStream] = []

            async def accept() -> None:
                accepted.append(await listener.accept())

            nursery.start_soon(accept)
            client = await unisock.trio.connect(remote=remote, **client_fields, **fields)
        return client, accepted[0]

    async def make() -> tuple[unisock.trio.SocketStream, unisock.trio.SocketStream]:
        return await pair(plain)

    async def make_clogged() -> tuple[unisock.trio.SocketStream, unisock.trio.SocketStream]:
        a, b = await pair(tight, **small)
        for stream in (a, b):  # either end may be the sender (the checks flip them)
            await clog(stream)
        return a, b

    try:
        yield make, make_clogged
    finally:
        await plain.aclose()
        await tight.aclose()


async def clog(stream: unisock.trio.SocketStream) -> None:
    """Write (without waiting) until the writable is full and stays full: then send_all
    and wait_send_all_might_not_block block until the other end reads."""
    writer = stream._writer
    while True:
        while (writer.desired_size or 0) > 0:
            writer.write(b"c" * 1024)
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(10):  # let the transport drain what the kernel still takes
            await trio.lowlevel.checkpoint()
        if (writer.desired_size or 0) <= 0:
            return


def test_tcp_passes_trios_half_closeable_stream_checks(run: Any) -> None:
    async def main() -> None:
        async with makers({}, {}) as (make, make_clogged):
            await trio.testing.check_half_closeable_stream(make, make_clogged)

    run(main, timeout=120)


def test_tls_passes_trios_half_closeable_stream_checks(
    run: Any, tls_fields: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    async def main() -> None:
        async with makers(*tls_fields) as (make, make_clogged):
            await trio.testing.check_half_closeable_stream(make, make_clogged)

    run(main, timeout=120)


def test_two_way_stream_checks_without_a_clogged_maker(run: Any) -> None:
    """The same checks with no clogged maker: the plain paths alone, on fresh pairs."""

    async def main() -> None:
        async with makers({}, {}) as (make, _):
            await trio.testing.check_two_way_stream(make, None)

    run(main, timeout=120)


async def _upper_lines(stream: trio.abc.Stream) -> None:
    """An echo handler written for any trio stream: each received chunk back, upper-cased."""
    async with stream:
        while chunk := await stream.receive_some():
            await stream.send_all(chunk.upper())


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_serve_listeners_in_a_nursery(
    run: Any, tls: bool, tls_fields: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    server_fields, client_fields = tls_fields if tls else ({}, {})

    async def main() -> None:
        listener = await unisock.trio.listen(local="127.0.0.1:0", **server_fields)
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_listeners, _upper_lines, [listener])
            assert listeners == [listener]
            remote = listener.listener.local
            for word in (b"one", b"two"):
                stream = await unisock.trio.connect(remote=remote, **client_fields)
                await stream.send_all(word)
                await stream.send_eof()  # half-close: the answer still comes
                got = b""
                while chunk := await stream.receive_some(2):
                    assert len(chunk) <= 2
                    got += chunk
                assert got == word.upper()
                await stream.aclose()
            nursery.cancel_scope.cancel()
        await listener.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await listener.accept()

    run(main)


def test_errors_are_trios(run: Any) -> None:
    """A reset is BrokenResourceError; after aclose() everything is ClosedResourceError;
    receive_some takes a positive int only."""

    async def main() -> None:
        async with makers({}, {}) as (make, _):
            a, b = await make()
            await b.socket.abort()  # RST
            with pytest.raises(trio.BrokenResourceError):
                while True:
                    await a.send_all(b"x" * 1000)
            with pytest.raises(ValueError, match="max_bytes"):
                await a.receive_some(0)
            with pytest.raises(TypeError):
                await a.receive_some(1.5)  # type: ignore[arg-type]
            await a.aclose()
            await b.aclose()
            for call in (a.receive_some(), a.send_all(b"x"), a.send_eof()):
                with pytest.raises(trio.ClosedResourceError):
                    await call

    run(main)
