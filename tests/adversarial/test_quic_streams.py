"""QUIC stream limits under misuse (items 2 and 7 of issue 16).

- A peer pushing unidirectional streams to an application that never takes them gets no
  more than ``UNI_STREAM_BACKLOG`` of them in: credit comes back as they are read (on
  aioquic, stream-count credit; on qh3, which grants stream counts by itself, the data of
  the rest stays in its core, at most one connection window, until the backlog is read).
- Streams opened and left unwritten are announced to the peer, so a peer that batches its
  MAX_STREAMS updates still grants more once finished streams free slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests import rt
from tests.adversarial._util import ALPN, CHAIN_PEM, KEY_PEM, client_opts

import unisock
from unisock._transports.quic import _engines, _link

pytestmark = [pytest.mark.timeout(60), pytest.mark.trio]  # `run` tests on trio too

BACKLOG = _link.UNI_STREAM_BACKLOG


@contextlib.asynccontextmanager
async def connected() -> AsyncIterator[tuple[unisock.Socket, unisock.Socket, Any]]:
    """A client stream socket, the server's socket for it, and the listener."""
    async with unisock.SocketListener(
        type="quic", alpn=[ALPN], cert=CHAIN_PEM, key=KEY_PEM
    ) as listener:
        await listener.ready
        client = unisock.Socket(remote=listener.local, allow_pooling=False, **client_opts())
        writer = client.writable.get_writer()
        await writer.write(b"\0")
        writer.release_lock()
        server = (await rt.wait_for(listener.__anext__(), 5)).socket
        await client.ready
        try:
            yield client, server, listener
        finally:
            client.connection.close()
            with contextlib.suppress(Exception):
                await client.closed
            with contextlib.suppress(Exception):
                await server.closed


async def push(conn: Any, payload: bytes) -> None:
    sock = await conn.create_unidirectional_stream()
    writer = sock.writable.get_writer()
    await writer.write(payload)
    await writer.close()


def test_unread_uni_streams_are_bounded(run: Any) -> None:
    """The server never reads its uni streams: at most BACKLOG get in (before: all 400)."""

    async def main() -> None:
        async with connected() as (client, server, _):
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                pushed = 0
                for _ in range(400):
                    try:
                        await rt.wait_for(push(client.connection, b"u" * 1024), 0.5)
                    except TimeoutError:
                        break  # out of stream credit: the server holds its backlog
                    pushed += 1
                await rt.sleep(0.1)
                incoming = server.connection.incoming_unidirectional_streams
                queued = len(incoming._controller._queue)
                if _engines.core().NAME == "aioquic":
                    assert pushed <= BACKLOG + 1, pushed
                else:  # qh3: the rest wait in its core, which gives them no credit
                    assert server.connection._core.link.hold
                assert queued <= BACKLOG, queued
                grown = tracemalloc.get_traced_memory()[0] - base
                assert grown < 8 << 20, grown
            finally:
                tracemalloc.stop()

            # Taking the streams gives the credit back: 100 more go through as they are read.
            reader = incoming.get_reader()

            async def take(n: int) -> int:
                total = 0
                for _ in range(n):
                    sock = (await reader.read()).value
                    r = sock.readable.get_reader()
                    while not (chunk := await r.read()).done:
                        total += len(chunk.value)
                return total

            taker = rt.spawn(take(pushed + 100))
            for _ in range(100):
                await rt.wait_for(push(client.connection, b"v" * 1024), 5)
            assert await rt.wait_for(taker, 10) == (pushed + 100) * 1024
            reader.release_lock()

    run(main)


def test_unwritten_streams_do_not_starve_stream_credit(run: Any) -> None:
    """20 finished streams, then opened-but-unwritten ones up to the limit: the next opens
    get the credit the finished ones freed (before: they waited for the idle timeout).
    The peer's initial limit is 128 streams on aioquic, 100 on qh3."""

    async def main() -> None:
        async with connected() as (client, _, listener):
            conn = client.connection

            async def serve() -> None:  # drain and close every stream the client opens
                async for event in listener:
                    sock = event.socket
                    r = sock.readable.get_reader()
                    while not (await r.read()).done:
                        pass
                    r.release_lock()
                    await sock.close()

            server = rt.spawn(serve())
            try:
                finished = []
                for _ in range(20):
                    s = await rt.wait_for(conn.create_bidirectional_stream(), 2)
                    w = s.writable.get_writer()
                    await w.write(b"x")
                    await w.close()
                    r = s.readable.get_reader()
                    assert (await rt.wait_for(r.read(), 5)).done
                    r.release_lock()
                    finished.append(s)
                # 1 + 20 streams used; open the rest of the initial limit, writing nothing.
                limit = 128 if _engines.core().NAME == "aioquic" else 100
                idle = [
                    await rt.wait_for(conn.create_bidirectional_stream(), 2)
                    for _ in range(limit - 21)
                ]
                loop = rt.runtime()
                start = loop.time()
                more = [
                    await rt.wait_for(conn.create_bidirectional_stream(), 3) for _ in range(10)
                ]
                assert loop.time() - start < 3
                for s in [*finished, *idle, *more]:
                    s._abort(None)
            finally:
                server.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await server

    run(main)
