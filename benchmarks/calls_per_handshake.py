"""Python calls per TLS handshake, both ends in one process (issue 13's handshake row).

    python benchmarks/calls_per_handshake.py unisock-trio|unisock|trio|asyncio-streams [N]

The ``tls_handshakes`` workload in one process: a listener and a client that makes ``N``
sequential connections, each a full handshake (verified against the run's CA, no session
resumption) followed by a close.  ``unisock-trio`` and ``unisock`` are unisock's
``Socket``/``SocketListener`` under ``trio.run`` and ``asyncio.run``; ``trio`` is trio's
``SSLStream`` and ``asyncio-streams`` asyncio's streams with ``ssl=``, with the contexts
the suite's peers use.  cProfile counts every Python call over the ``N`` handshakes:
unlike timings on a shared machine the count is deterministic, so a change to the
handshake path shows as a change in calls per handshake.  OpenSSL's own work is the same
for every peer (``do_handshake`` is one call); the busiest Python functions follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import pstats
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trustme

import unisock

WARMUP = 20


class Pki:
    """One CA and a server certificate for 127.0.0.1, as PEM bytes and as files."""

    def __init__(self) -> None:
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        self.ca = ca.cert_pem.bytes()
        self.chain = b"".join(p.bytes() for p in leaf.cert_chain_pems)
        self.key = leaf.private_key_pem.bytes()
        self.dir = Path(tempfile.mkdtemp(prefix="unisock-calls-"))
        for name, data in (("ca", self.ca), ("chain", self.chain), ("key", self.key)):
            (self.dir / f"{name}.pem").write_bytes(data)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.dir / "chain.pem", self.dir / "key.pem")
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.dir / "ca.pem"))


async def unisock_server_handler(sock: Any) -> None:
    """The suite's ``tls-hs`` server: read until the client's close, then close."""
    try:
        async for _ in sock.readable:
            pass
        await sock.close()
    except Exception:  # the client leaving may end it with an error
        with contextlib.suppress(Exception):
            await sock.abort()


def unisock_client(pki: Pki, port: int) -> Callable[[], Awaitable[None]]:
    async def one() -> None:
        # no_delay as trio's SocketStream and asyncio's transports set it for their clients
        sock = unisock.Socket(
            type="tls", remote=("127.0.0.1", port), ca=pki.ca, allow_pooling=False, no_delay=True
        )
        await sock.ready
        await sock.close()

    return one


def unisock_listener(pki: Pki) -> Any:
    return unisock.SocketListener(
        local="127.0.0.1:0", no_delay=True, type="tls", cert=pki.chain, key=pki.key
    )


class Counter:
    """Runs ``one`` ``n`` times under cProfile; keeps the stats and the wall time."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.profile = cProfile.Profile()
        self.seconds = 0.0

    async def run(self, one: Callable[[], Awaitable[None]]) -> None:
        for _ in range(WARMUP):
            await one()
        start = time.perf_counter()
        self.profile.enable()
        for _ in range(self.n):
            await one()
        self.profile.disable()
        self.seconds = time.perf_counter() - start


async def run_unisock_asyncio(pki: Pki, counter: Counter) -> None:
    handlers: set[asyncio.Task[None]] = set()
    async with unisock_listener(pki) as listener:
        local = await listener.ready

        async def serve() -> None:
            async for event in listener:
                task = asyncio.create_task(unisock_server_handler(event.socket))
                handlers.add(task)
                task.add_done_callback(handlers.discard)

        server = asyncio.create_task(serve())
        await counter.run(unisock_client(pki, local.port))
        server.cancel()


async def run_asyncio_streams(pki: Pki, counter: Counter) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=pki.server_context())
    port = server.sockets[0].getsockname()[1]
    ctx = pki.client_context()

    async def one() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async with server:
        await counter.run(one)


def run_trio(peer: str, pki: Pki, counter: Counter) -> None:
    import trio

    async def unisock_main() -> None:
        async with trio.open_nursery() as nursery:
            listener = unisock_listener(pki)
            local = await listener.ready

            async def serve() -> None:
                async for event in listener:
                    nursery.start_soon(unisock_server_handler, event.socket)

            nursery.start_soon(serve)
            await counter.run(unisock_client(pki, local.port))
            nursery.cancel_scope.cancel()

    async def trio_main() -> None:
        errors = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

        async def handle(stream: trio.SSLStream[trio.SocketStream]) -> None:
            try:
                await stream.do_handshake()
                await stream.receive_some()
            except errors:
                pass
            finally:
                with trio.move_on_after(1):
                    await trio.aclose_forcefully(stream)

        ctx = pki.client_context()
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_ssl_over_tcp_listeners(
                0, pki.server_context(), host="127.0.0.1"
            )
            tcp = listeners[0].transport_listener
            assert isinstance(tcp, trio.SocketListener)
            port = tcp.socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, handle, listeners)

            async def one() -> None:
                stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=ctx)
                await stream.do_handshake()
                await stream.aclose()

            await counter.run(one)
            nursery.cancel_scope.cancel()

    trio.run(unisock_main if peer == "unisock-trio" else trio_main)


PEERS = ("unisock-trio", "unisock", "trio", "asyncio-streams")


def main() -> None:
    peer = sys.argv[1] if len(sys.argv) > 1 else "unisock-trio"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    if peer not in PEERS:
        sys.exit(f"usage: calls_per_handshake.py {'|'.join(PEERS)} [N]")
    pki = Pki()
    counter = Counter(n)
    if peer in ("unisock-trio", "trio"):
        run_trio(peer, pki, counter)
    elif peer == "unisock":
        asyncio.run(run_unisock_asyncio(pki, counter))
    else:
        asyncio.run(run_asyncio_streams(pki, counter))
    out = io.StringIO()
    stats = pstats.Stats(counter.profile, stream=out)
    print(
        f"{peer}: {stats.total_calls / n:.0f} Python calls per handshake (both ends), "
        f"{n / counter.seconds:.0f} handshakes/s under the profiler"
    )
    stats.sort_stats("ncalls").print_stats(15)
    print(out.getvalue())


if __name__ == "__main__":
    main()
