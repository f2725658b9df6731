"""``unisock demo``: every transport on loopback, each echoed by its own listener.

For each of TCP, TLS, UDP and QUIC: start a listener that echoes, connect a client, do
some round-trips, echo a bulk payload (streams) or a burst of datagrams (UDP), check every
byte came back, and report a row of the table.  A transport that fails (or, for UDP, is
not in this build) is reported as such; the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .. import Socket, SocketListener, __version__
from .._runtime import bounded
from ..streams import FrameReader, ReadableStreamDefaultReader
from .certs import make_certificates
from .connect import finish
from .describe import info_line, size
from .run import describe
from .tasks import Job, on_trio, spawn

__all__ = ["demo_main"]

ALPN = "unisock-demo"
STEP_TIMEOUT = 20.0
UDP_BURST = 32
UDP_SIZE = 1200
UDP_WAIT = 1.0


@dataclass
class Row:
    transport: str
    ok: bool = False
    bytes: int = 0
    rounds: int = 0
    seconds: float = 0.0
    details: str = ""
    stats: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def _echo_listener(**init: Any) -> AsyncIterator[SocketListener]:
    """A listener that echoes every socket it accepts until it is closed."""
    tasks: set[Job] = set()

    def accepted(event: Any) -> None:
        sock: Socket = event.socket

        async def echo() -> None:
            with contextlib.suppress(Exception):
                await sock.readable.pipe_to(sock.writable)
            await finish(sock, True)

        task = spawn(echo())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    listener = SocketListener(**init)
    listener.add_event_listener("socket", accepted)
    try:
        await listener.ready
        yield listener
    finally:
        await listener.close()
        for task in list(tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _stream_client(row: Row, remote: Any, size_: int, rounds: int, **init: Any) -> None:
    start = time.perf_counter()
    sock = Socket(remote=remote, **init)
    ok = False
    try:
        info = await sock.ready
        frames = FrameReader(sock.readable)  # an early end: IncompleteReadError
        writer = sock.writable.get_writer()
        for i in range(rounds):
            message = f"ping {i}\n".encode()
            writer.write(message)
            if await frames.read_exactly(len(message)) != message:
                raise ValueError(f"round-trip {i} came back different")
            row.rounds += 1
            row.bytes += len(message)
        payload = os.urandom(size_)

        async def send() -> None:
            await writer.write(payload)
            await writer.close()

        sending = spawn(send())
        echoed = await frames.read_exactly(size_)
        await sending
        if echoed != payload:
            raise ValueError("the bulk echo came back different")
        row.bytes += size_
        if not await frames.at_eof():
            raise ValueError("the echo sent more than it was given")
        await sock.closed
        ok = True
    finally:
        await finish(sock, ok)
    row.seconds = time.perf_counter() - start
    row.details = _details(info)
    row.stats = _stats(sock)
    row.ok = True


async def _udp_client(row: Row, remote: Any, rounds: int) -> None:
    start = time.perf_counter()
    sock = Socket(type="udp", remote=remote)
    ok = False
    try:
        info = await sock.ready
        reader = ReadableStreamDefaultReader(sock.readable)
        writer = sock.writable.get_writer()
        for i in range(rounds):
            message = f"ping {i}".encode()
            for _attempt in range(3):  # a datagram may be lost, even on loopback
                await writer.write(message)
                try:
                    result = await bounded(reader.read(), UDP_WAIT)
                except TimeoutError:
                    continue
                if result.value != message:
                    raise ValueError(f"round-trip {i} came back different")
                break
            else:
                raise TimeoutError(f"no echo for round-trip {i}")
            row.rounds += 1
            row.bytes += len(message)
        burst = [os.urandom(UDP_SIZE) for _ in range(UDP_BURST)]
        for datagram in burst:
            await writer.write(datagram)
        echoed: list[bytes] = []
        with contextlib.suppress(TimeoutError):
            while len(echoed) < len(burst):
                echoed.append((await bounded(reader.read(), UDP_WAIT)).value)
        if sorted(echoed) != sorted(burst):
            raise ValueError(f"{len(echoed)} of {len(burst)} datagrams came back")
        row.bytes += UDP_BURST * UDP_SIZE
        ok = True
    finally:
        await finish(sock, ok)
    row.seconds = time.perf_counter() - start
    row.details = f"{info.remote}, {UDP_BURST} x {UDP_SIZE} B datagrams"
    row.stats = _stats(sock)
    row.ok = True


def _details(info: Any) -> str:
    text = info_line(info)
    return text if info.cipher is not None else f"{text} {info.remote}"


def _stats(sock: Socket) -> str:
    s = sock.stats
    return (
        f"{size(s.bytes_sent)} / {size(s.bytes_received)}, "
        f"{s.packets_sent}/{s.packets_received} pkts"
    )


async def _run_one(name: str, args: argparse.Namespace, certs: Any) -> Row:
    row = Row(name)
    tls_server = {"cert": certs.cert_pem, "key": certs.key_pem, "alpn": [ALPN]}
    tls_client = {"ca": certs.ca_pem, "servername": "localhost", "alpn": [ALPN]}
    try:
        if name == "udp":
            try:
                listener_cm = _echo_listener(type="udp")
                listener = await listener_cm.__aenter__()
            except (ImportError, NotImplementedError) as exc:
                row.error = f"not available in this build ({describe(exc)})"
                row.extra["unavailable"] = True
                return row
            try:
                await bounded(_udp_client(row, listener.local, args.rounds), STEP_TIMEOUT)
            finally:
                await listener_cm.__aexit__(None, None, None)
            return row
        kind = {"tcp": {}, "tls": {"type": "tls"}, "quic": {"type": "quic"}}[name]
        server = {**kind, **(tls_server if name != "tcp" else {})}
        client = {**kind, **(tls_client if name != "tcp" else {})}
        if name == "quic":
            client["allow_pooling"] = False
        async with _echo_listener(**server) as listener:
            await bounded(
                _stream_client(row, listener.local, args.size, args.rounds, **client),
                STEP_TIMEOUT,
            )
    except Exception as exc:
        row.ok = False
        row.error = describe(exc)
    return row


def _table(rows: list[Row]) -> str:
    header = ["transport", "result", "bytes", "round-trips", "time", "info", "stats (out / in)"]
    body = []
    for r in rows:
        result = "ok" if r.ok else ("n/a" if r.extra.get("unavailable") else "FAILED")
        body.append(
            [
                r.transport,
                result,
                f"{r.bytes:,}" if r.ok else "-",
                str(r.rounds) if r.ok else "-",
                f"{r.seconds * 1000:.0f} ms" if r.ok else "-",
                r.details if r.ok else r.error,
                r.stats if r.ok else "",
            ]
        )
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


async def demo_main(args: argparse.Namespace) -> int:
    if args.size < 0 or args.rounds < 1:
        from .run import UsageError

        raise UsageError("--size must be >= 0 and --rounds >= 1")
    loop = "trio" if on_trio() else type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(
        f"unisock {__version__} demo: every transport on loopback "
        f"(Python {platform.python_version()}, {loop} loop)\n",
        flush=True,
    )
    certs = make_certificates()
    rows = []
    for name in ("tcp", "tls", "udp", "quic"):
        rows.append(await _run_one(name, args, certs))
    print(_table(rows))
    worked = sum(r.ok for r in rows)
    print(f"\n{worked} of {len(rows)} transports worked", flush=True)
    if worked != len(rows):
        print("unisock: demo: some transports did not work (see above)", file=sys.stderr)
        return 1
    return 0
