"""asyncio-shaped transports on every runtime, for tests that drive a layer (``TLSTransport``)
straight on a lower transport: a TCP connection and a small server, the same on asyncio,
uvloop and trio.

Why not ``loop.create_connection``/``loop.create_server``: trio has no loop.  These go
through unisock's runtime seam instead (``create_connection(sock=...)`` and
``connect_accepted_socket``, which the trio runtime implements with its own transport),
so a test body that uses them runs on all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from tests import rt

__all__ = ["connect", "serve"]


async def connect(
    protocol_factory: Callable[[], Any], port: int, host: str = "127.0.0.1"
) -> tuple[Any, Any]:
    """``(transport, protocol)`` over a new TCP connection to ``host:port``
    (``loop.create_connection``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await rt.sock_connect(sock, (host, port))
        return await rt.runtime().create_connection(protocol_factory, sock=sock)
    except BaseException:
        sock.close()
        raise


@contextlib.asynccontextmanager
async def serve(protocol_factory: Callable[[], Any]) -> AsyncIterator[int]:
    """Accept TCP connections on a loopback port while the block runs, each one a
    transport made with ``protocol_factory`` (``loop.create_server``); yields the port.

    On leaving, the accepting stops and the listening socket is closed; connections
    already made are left to the test, as ``Server.close()`` leaves them.
    """
    listening = socket.create_server(("127.0.0.1", 0))
    listening.setblocking(False)
    accepting = rt.spawn(_accept(listening, protocol_factory))
    try:
        yield int(listening.getsockname()[1])
    finally:
        accepting.cancel()
        # A cancelled task (asyncio's or the trio runtime's) raises asyncio's error.
        with contextlib.suppress(asyncio.CancelledError):
            await accepting
        listening.close()


async def _accept(listening: socket.socket, protocol_factory: Callable[[], Any]) -> None:
    runtime = rt.runtime()
    while True:
        conn, _ = await rt.sock_accept(listening)
        try:
            await runtime.connect_accepted_socket(protocol_factory, conn)
        except BaseException:
            conn.close()
            raise
