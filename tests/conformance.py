"""A conformance kit for connected unisock socket pairs, in the spirit of trio's
``check_two_way_stream``: every transport that gives a byte stream (TCP, TLS, QUIC
streams) runs through the same checks.

``make_pair(**client_options)`` is an async context manager factory yielding
``(client, server)``: two open sockets connected to each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import unisock
from unisock import errors

PairFactory = Callable[..., contextlib.AbstractAsyncContextManager[tuple[Any, Any]]]


async def read_all(sock: unisock.Socket) -> bytes:
    return b"".join([chunk async for chunk in sock.readable])


async def check_echo_integrity(make_pair: PairFactory, total: int = 4 << 20, seed: int = 1) -> None:
    """Random data in random chunk sizes, echoed back, arrives byte-identical."""
    rng = random.Random(seed)
    data = rng.randbytes(total)
    async with make_pair() as (client, server):
        echo = asyncio.ensure_future(server.readable.pipe_to(server.writable))
        writer = client.writable.get_writer()

        async def send() -> None:
            pos = 0
            while pos < len(data):
                n = rng.randint(1, 256 * 1024)
                await writer.ready
                writer.write(data[pos : pos + n])
                pos += n
            await writer.close()

        sender = asyncio.ensure_future(send())
        received = await read_all(client)
        await sender
        await echo
        assert len(received) == len(data)
        assert received == data
        await client.closed
        await server.closed


async def check_half_close(make_pair: PairFactory) -> None:
    """The client's FIN ends the server's readable; the server can still answer."""
    async with make_pair(allow_half_open=True) as (client, server):
        writer = client.writable.get_writer()
        await writer.write(b"request")
        await writer.close()
        request = await read_all(server)
        assert request == b"request"
        server_writer = server.writable.get_writer()
        await server_writer.write(b"response to " + request)
        await server_writer.close()
        assert await read_all(client) == b"response to request"
        await asyncio.wait_for(client.closed, 10)
        await asyncio.wait_for(server.closed, 10)


async def check_auto_close_after_end(make_pair: PairFactory) -> None:
    """allow_half_open=False: once the server has read to the end, its writable closes."""
    async with make_pair() as (client, server):
        writer = client.writable.get_writer()
        await writer.write(b"bye")
        await writer.close()
        assert await read_all(server) == b"bye"
        await asyncio.wait_for(server.closed, 10)
        assert await read_all(client) == b""
        await asyncio.wait_for(client.closed, 10)


async def check_abort(make_pair: PairFactory) -> None:
    """abort(reason): both local streams error with it, closed rejects, the peer sees an error."""
    async with make_pair() as (client, server):
        reason = ValueError("enough")
        server_reader = server.readable.get_reader()
        pending_read = server_reader.read()
        client_reader = client.readable.get_reader()
        client_read = client_reader.read()
        await client.abort(reason)
        assert client.signal.aborted
        for awaitable in (client.closed, client_read, client.writable.get_writer().closed):
            try:
                await awaitable
            except ValueError as exc:
                assert exc is reason
            else:
                raise AssertionError("expected the abort reason")
        try:
            result = await asyncio.wait_for(pending_read, 10)
        except (errors.NetworkError, errors.TLSError):
            pass  # reset seen as an error: what TCP (RST) and QUIC (RESET_STREAM) do
        else:
            assert result.done, "the peer must see the end or an error after an abort"


async def check_backpressure(make_pair: PairFactory, limit: int = 64 << 20) -> None:
    """A peer that never reads makes our writer wait; memory stays bounded."""
    async with make_pair(send_buffer_size=256 * 1024) as (client, server):
        writer = client.writable.get_writer()
        chunk = b"z" * 65536
        written = 0
        while written < limit:
            if writer.desired_size is not None and writer.desired_size <= 0:
                try:
                    await asyncio.wait_for(writer.ready, 0.5)
                except TimeoutError:
                    break
            writer.write(chunk)
            written += len(chunk)
        assert written < limit, "the writer never felt backpressure"
        controller = client.writable._controller
        assert len(controller._queue) <= 2, "the writable queue grew past its high-water mark"
        server_queued = server.readable._controller._total
        assert server_queued <= server.readable._controller._hwm + 256 * 1024
        await client.abort()


async def check_stats(make_pair: PairFactory) -> None:
    """bytes_sent/bytes_received count payload exactly."""
    async with make_pair() as (client, server):
        sent0, received0 = client.stats.bytes_sent, server.stats.bytes_received
        back0 = client.stats.bytes_received
        writer = client.writable.get_writer()
        await writer.write(b"a" * 1000)
        await writer.write(b"b" * 234)
        await writer.close()
        received = await read_all(server)
        assert len(received) == 1234
        await asyncio.wait_for(client.closed, 10)
        assert client.stats.bytes_sent - sent0 == 1234
        assert server.stats.bytes_received - received0 == 1234
        assert client.stats.bytes_received == back0
        assert client.stats.packets_sent > 0
        assert server.stats.packets_received > 0


async def check_idle_timeout(make_pair: PairFactory) -> None:
    """A silent peer trips idle_timeout: the socket aborts with TimeoutError."""
    async with make_pair(idle_timeout=0.2) as (client, server):
        try:
            await asyncio.wait_for(client.closed, 5)
        except errors.TimeoutError as exc:
            assert "idle" in str(exc)
        else:
            raise AssertionError("closed should reject with TimeoutError")


CHECKS = [
    check_echo_integrity,
    check_half_close,
    check_auto_close_after_end,
    check_abort,
    check_backpressure,
    check_stats,
    check_idle_timeout,
]


async def check_all(make_pair: PairFactory) -> None:
    for check in CHECKS:
        await check(make_pair)


@contextlib.asynccontextmanager
async def settled(*socks: unisock.Socket) -> AsyncIterator[None]:
    """Abort whatever is still open when the block ends (tests never leak sockets)."""
    try:
        yield
    finally:
        for s in socks:
            await s.abort()
            with contextlib.suppress(Exception):
                await s.closed
