"""TLS bulk download over loopback: unisock's TLSTransport vs asyncio streams with ``ssl=``.

Each case runs its server and its client in separate processes (the same implementation on
both ends); the server sends as fast as the client reads, the client counts for ``--seconds``.
Run: ``.venv/bin/python benchmarks/tls_layer_bench.py [--seconds 3] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import ssl
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import trustme

from unisock._transports.tls.config import TLSOptions, server_context
from unisock._transports.tls.transport import TLSTransport

CHUNK = b"x" * (256 * 1024)


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


# -- servers (run in a child process) --------------------------------------------------------


class _Blaster(asyncio.Protocol):
    """Writes CHUNK whenever the transport can take more; stops when the peer goes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: Any = transport
        self.paused = False
        self.loop = asyncio.get_running_loop()
        self.loop.call_soon(self.pump)

    def pump(self) -> None:
        t = self.t
        while not self.paused and not t.is_closing():
            t.write(CHUNK)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.loop.call_soon(self.pump)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.paused = True


def _serve(kind: str, use_uvloop: bool, sock: socket.socket, cert_pem: bytes) -> None:
    loop = _new_loop(use_uvloop)
    asyncio.set_event_loop(loop)

    async def main() -> None:
        opts = TLSOptions.from_init(cert=cert_pem, key=cert_pem, server_side=True)
        if kind == "streams":
            ctx = server_context(opts)  # the same settings for both

            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                try:
                    while True:
                        w.write(CHUNK)
                        await w.drain()
                except (ConnectionError, ssl.SSLError):
                    pass
                finally:
                    w.close()

            server = await asyncio.start_server(handle, sock=sock, ssl=ctx)
        else:

            class Upgrade(asyncio.Protocol):
                def connection_made(self, transport: asyncio.BaseTransport) -> None:
                    tls = TLSTransport(transport, _Blaster(), opts)  # type: ignore[arg-type]
                    tls.handshake.add_done_callback(lambda d: None)
                    self.tls = tls

            loop_ = asyncio.get_running_loop()
            server = await loop_.create_server(Upgrade, sock=sock)
        async with server:
            await asyncio.sleep(3600)  # until the parent terminates us

    loop.run_until_complete(main())


# -- clients -------------------------------------------------------------------------------


async def _client_streams(port: int, ca: bytes, seconds: float) -> float:
    ctx = ssl.create_default_context(cadata=ca.decode())
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
    )
    total = 0
    await reader.read(65536)
    start = time.perf_counter()
    end = start + seconds
    while True:
        data = await reader.read(256 * 1024)
        total += len(data)
        if time.perf_counter() >= end:
            break
    elapsed = time.perf_counter() - start
    writer.transport.abort()
    return total / elapsed / 1e6


class _Counter(asyncio.Protocol):
    def __init__(self) -> None:
        self.total = 0

    def data_received(self, data: bytes) -> None:
        self.total += len(data)


async def _client_tls(port: int, ca: bytes, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    lower, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    counter = _Counter()
    tls = TLSTransport(lower, counter, TLSOptions.from_init(ca=ca), host="localhost", pooling=False)
    await tls.handshake
    await asyncio.sleep(0.05)
    start_total, start = counter.total, time.perf_counter()
    await asyncio.sleep(seconds)
    total, elapsed = counter.total - start_total, time.perf_counter() - start
    tls.abort()
    return total / elapsed / 1e6


def _client(kind: str, use_uvloop: bool, port: int, ca: bytes, seconds: float, q: Any) -> None:
    loop = _new_loop(use_uvloop)
    fn: Callable[..., Any] = _client_streams if kind == "streams" else _client_tls
    q.put(loop.run_until_complete(fn(port, ca, seconds)))
    loop.close()


def run_case(kind: str, use_uvloop: bool, seconds: float, ca: trustme.CA, cert_pem: bytes) -> float:
    ctx = mp.get_context("spawn")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    server = ctx.Process(target=_serve, args=(kind, use_uvloop, sock, cert_pem), daemon=True)
    server.start()
    sock.close()
    q = ctx.Queue()
    client = ctx.Process(
        target=_client, args=(kind, use_uvloop, port, ca.cert_pem.bytes(), seconds, q)
    )
    client.start()
    result = q.get(timeout=seconds + 30)
    client.join(10)
    server.terminate()
    server.join(10)
    return float(result)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    cert_pem = leaf.private_key_and_cert_chain_pem.bytes()
    cases = [
        ("asyncio streams ssl=", "streams", False),
        ("TLSTransport, asyncio", "tls", False),
        ("TLSTransport, uvloop", "tls", True),
    ]
    results: dict[str, float] = {}
    for label, kind, uv in cases:
        runs = [run_case(kind, uv, args.seconds, ca, cert_pem) for _ in range(args.repeat)]
        results[label] = statistics.median(runs)
    base = results[cases[0][0]]
    print(f"{'TLS bulk download (loopback)':<28} {'MB/s':>8} {'vs streams':>11}")
    for label, value in results.items():
        print(f"{label:<28} {value:>8,.0f} {value / base:>10.2f}x")


if __name__ == "__main__":
    main()
