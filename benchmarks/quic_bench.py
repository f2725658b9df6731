"""QUIC throughput and stream-open rate: unisock's QUIC layer vs plain qh3 and plain aioquic.

All run in one process on one loop (client and server), side by side, with the same
certificates; unisock runs on its default core (qh3; ``UNISOCK_QUIC_CORE=aioquic`` for the
fallback); the table prints unisock's ratio to each.  Also a row of new TCP+TLS
connections per second (asyncio streams), to compare with pooled QUIC stream opens.
The two-process suite (benchmarks/run.py, QUIC workloads) is the reference; this is the
quick one-process check.

    .venv/bin/python benchmarks/quic_bench.py [--loop asyncio|uvloop] [--mib 32] [--opens 300]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ssl
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from unisock._transports.quic import QuicTLSOptions, connect_quic, serve_quic

ALPN = "bench"
CHUNK = 64 * 1024


class Pki:
    def __init__(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        self.ca = ca.cert_pem.bytes()
        self.cert = b"".join(p.bytes() for p in cert.cert_chain_pems)
        self.key = cert.private_key_pem.bytes()
        self._ca, self._cert = ca, cert


# -- unisock side -------------------------------------------------------------------------
class Sink(asyncio.Protocol):
    """Server side: swallow the upload, answer ``ok`` (or echo a small request) at EOF."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.small = b""

    def data_received(self, data: bytes) -> None:
        if len(self.small) < 16:
            self.small += data[:16]

    def eof_received(self) -> bool:
        self.transport.write(self.small[:1] or b"k")
        self.transport.write_eof()
        return True


class Upload(asyncio.Protocol):
    """Client side: write ``total`` bytes honouring backpressure, wait for the answer."""

    def __init__(self, total: int, done: asyncio.Future[None]) -> None:
        self.left = total
        self.paused = False
        self.done = done
        self.block = bytes(CHUNK)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.pump()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()

    def pump(self) -> None:
        write = self.transport.write
        while not self.paused and self.left > 0:
            write(self.block if self.left >= CHUNK else self.block[: self.left])
            self.left -= CHUNK
        if self.left <= 0 and not self.paused:
            self.left = 0
            self.transport.write_eof()
            self.left = -1 << 60  # once

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        if not self.done.done():
            self.done.set_result(None)
        return False


async def unisock_case(pki: Pki, kind: str, mib: int, opens: int) -> float:
    def on_connection(core: Any) -> None:
        core.on_stream = lambda transport, bidi: Sink()

    server = await serve_quic(
        ("127.0.0.1", 0), QuicTLSOptions(cert=pki.cert, key=pki.key, alpn=(ALPN,)), on_connection
    )
    loop = asyncio.get_running_loop()
    try:
        opts = QuicTLSOptions(ca=pki.ca, alpn=(ALPN,), servername="localhost")
        core = await connect_quic(("127.0.0.1", server.local[1]), opts, pooling=True)
        await core.handshake
        if kind == "opens":
            started = time.perf_counter()
            for _ in range(opens):
                done = loop.create_future()
                core2 = await connect_quic(("127.0.0.1", server.local[1]), opts, pooling=True)
                t = await core2.open_stream(True, protocol=Upload(1, done))
                await done
                t.close()
            result = opens / (time.perf_counter() - started)
        else:
            streams = 1 if kind == "bulk1" else 8
            per = (mib << 20) // streams
            started = time.perf_counter()
            dones = [loop.create_future() for _ in range(streams)]
            for d in dones:
                await core.open_stream(True, protocol=Upload(per, d))
            await asyncio.gather(*dones)
            result = (per * streams) / (time.perf_counter() - started) / 1e6
        core.close()
        await core.closed
        return result
    finally:
        server.close()


# -- plain qh3 / aioquic side (the same asyncio API) ---------------------------------------
async def raw_case(pki: Pki, kind: str, mib: int, opens: int, lib: str = "aioquic") -> float:
    QuicConfiguration = importlib.import_module(f"{lib}.quic.configuration").QuicConfiguration
    raw_serve = importlib.import_module(f"{lib}.asyncio.server").serve
    raw_connect = importlib.import_module(f"{lib}.asyncio.client").connect

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = b""
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            if not first:
                first = data[:1]
        writer.write(first or b"k")
        writer.write_eof()

    tasks: set[asyncio.Task[None]] = set()

    def stream_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(handle(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    sconf = QuicConfiguration(is_client=False, alpn_protocols=[ALPN])
    if lib == "qh3":
        sconf.load_cert_chain(pki.cert, pki.key)
    else:
        sconf.certificate, *chain = _load_chain(pki.cert)
        sconf.certificate_chain = chain
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        sconf.private_key = load_pem_private_key(pki.key, None)
    server = await raw_serve("127.0.0.1", 0, configuration=sconf, stream_handler=stream_handler)
    udp: Any = server._transport
    port = udp.get_extra_info("sockname")[1]
    cconf = QuicConfiguration(is_client=True, alpn_protocols=[ALPN], server_name="localhost")
    cconf.cadata = pki.ca
    try:
        async with raw_connect("127.0.0.1", port, configuration=cconf) as client:
            if kind == "opens":
                started = time.perf_counter()
                for _ in range(opens):
                    reader, writer = await client.create_stream()
                    writer.write(b"x")
                    writer.write_eof()
                    await reader.read()
                return opens / (time.perf_counter() - started)
            streams = 1 if kind == "bulk1" else 8
            per = (mib << 20) // streams
            block = bytes(CHUNK)

            async def one() -> None:
                reader, writer = await client.create_stream()
                for _ in range(per // CHUNK):
                    writer.write(block)
                writer.write_eof()
                await reader.read()

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(streams)))
            return (per * streams) / (time.perf_counter() - started) / 1e6
    finally:
        server.close()


def _load_chain(pem: bytes) -> list[Any]:
    from cryptography import x509

    return list(x509.load_pem_x509_certificates(pem))


# -- new TCP+TLS connections, for the pooled-open comparison ------------------------------
async def tls_connects(pki: Pki, opens: int) -> float:
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki._cert.configure_cert(sctx)
    cctx = ssl.create_default_context()
    pki._ca.configure_trust(cctx)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(1))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx)
    port = server.sockets[0].getsockname()[1]
    started = time.perf_counter()
    for _ in range(opens):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=cctx, server_hostname="localhost"
        )
        writer.write(b"x")
        await reader.read(1)
        writer.close()
        await writer.wait_closed()
    rate = opens / (time.perf_counter() - started)
    server.close()
    await server.wait_closed()
    return rate


# -- driver -------------------------------------------------------------------------------
def measure(flavor: str, fn: Callable[[], Coroutine[Any, Any, float]], repeats: int) -> float:
    import uvloop

    factory = uvloop.new_event_loop if flavor == "uvloop" else asyncio.new_event_loop
    values: list[float] = []
    for _ in range(repeats):
        with asyncio.Runner(loop_factory=factory) as runner:
            values.append(runner.run(fn()))
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--opens", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pki = Pki()
    rows = []
    for kind, label, unit in (
        ("bulk1", f"bulk upload, 1 stream, {args.mib} MiB", "MB/s"),
        ("bulk8", f"bulk upload, 8 streams, {args.mib} MiB", "MB/s"),
        ("opens", "stream open + 1-byte round trip", "/s"),
    ):
        ours = measure(
            args.loop, partial(unisock_case, pki, kind, args.mib, args.opens), args.repeats
        )
        fast = measure(
            args.loop, partial(raw_case, pki, kind, args.mib, args.opens, "qh3"), args.repeats
        )
        plain = measure(args.loop, partial(raw_case, pki, kind, args.mib, args.opens), args.repeats)
        rows.append((label, unit, ours, fast, plain))
    tls_rate = measure(args.loop, partial(tls_connects, pki, min(args.opens, 200)), args.repeats)
    print(f"loop: {args.loop}, median of {args.repeats}, client and server in one process")
    print(
        f"{'workload':40} {'unit':>5} {'unisock':>10} {'qh3':>10} {'aioquic':>10}"
        f" {'/qh3':>7} {'/aioquic':>8}"
    )
    for label, unit, ours, fast, plain in rows:
        print(
            f"{label:40} {unit:>5} {ours:10.1f} {fast:10.1f} {plain:10.1f}"
            f" {ours / fast:6.2f}x {ours / plain:7.2f}x"
        )
    opens = rows[2][2]
    print(f"{'new TCP+TLS connection + round trip':40} {'/s':>5} {tls_rate:10.1f}")
    print(f"pooled QUIC stream opens vs new TCP+TLS connections: {opens / tls_rate:.1f}x")


if __name__ == "__main__":
    main()
