"""Peer: unisock, through its public API only (/work/shared/API.md), on asyncio or uvloop.

Streams by default: ``async for chunk in sock.readable``, a writer that writes without
awaiting while ``desired_size > 0``, and ``readable.pipe_to(writable)`` for the proxy.
``--data`` uses the ``"data"`` event instead for both sides of ping-pong: a sync listener
that writes each buffer back (the fast echo path of API.md).

Modes of the other kinds (certificates from ``UNISOCK_BENCH_CERTS``, see peers/_tls.py):

* TLS: ``server tls-source|tls-hs``, ``client tls-download|tls-handshakes PORT``; the
  handshake client uses ``allow_pooling=False`` so no session is resumed.
* UDP: ``server udp-sink|udp-echo`` speaks the protocol of benchmarks/udp_bench.py's
  receivers (``READY <port>`` on start, ``received N BYTES CPU_SECONDS`` on SIGTERM); a
  bound socket read with ``async for datagram in sock.readable`` (with ``--data``: a sync
  ``"data"`` listener writing each ``Datagram`` back).  ``client udp-send
  PORT --duration S`` sends 64-byte datagrams with ``writer.write`` on a connected socket
  for S seconds, as udp_bench.py's senders do (a yield every ``SEND_BATCH``), and prints
  ``sent N CPU_SECONDS``.
* QUIC: ``server quic-server`` answers each stream's request (an ASCII byte count, then
  FIN) with that many bytes and FIN; ``client quic-bulk1|quic-bulk8|quic-opens PORT``
  repeats 4 MiB requests on 1 or 8 concurrent streams, or 1-byte requests one at a time;
  every request is a new ``Socket`` (``allow_pooling=True``: a stream of one connection).
  The server also echoes its connections' datagrams; ``client quic-datagrams PORT`` keeps
  64 in flight and counts the echoes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from typing import Any

import _common as c
import _tls

import unisock as _unisock_module

# Typed loosely on purpose: Socket and SocketListener land with issue 3, after this peer.
unisock: Any = _unisock_module


async def write_all(writer: Any, chunk: bytes, meter: c.Meter | None) -> None:
    """Bulk writer: queue without awaiting while there is room, else wait for ``ready``."""
    n = 0
    while True:
        size = writer.desired_size
        if size is not None and size > 0:
            writer.write(chunk)
            if meter is not None:
                meter.count += len(chunk)
            n += 1
            if n % c.YIELD_EVERY == 0:
                await asyncio.sleep(0)
        else:
            await writer.ready


async def echo_streams(sock: Any) -> None:
    """The draft's echo server: ``socket.readable.pipeTo(socket.writable)``."""
    await sock.readable.pipe_to(sock.writable)


def echo_data(sock: Any) -> None:
    writer = sock.writable.get_writer()
    write = writer.write

    def on_data(event: Any) -> None:
        for buffer in event.buffers:
            write(buffer)

    sock.add_event_listener("data", on_data)


async def proxy(args: c.Args, client: Any) -> None:
    upstream = unisock.Socket(remote=("127.0.0.1", args.upstream), no_delay=True)
    await upstream.ready
    await asyncio.gather(
        client.readable.pipe_to(upstream.writable),
        upstream.readable.pipe_to(client.writable),
    )


async def handle(args: c.Args, sock: Any) -> None:
    try:
        if args.role == "proxy":
            await proxy(args, sock)
        elif args.mode == "quic-server":
            echo_datagrams(sock)
            await answer(sock)
        elif args.mode == "tls-hs":
            async for _ in sock.readable:
                pass
            await sock.close()
        elif args.mode == "sink":
            async for _ in sock.readable:
                pass
        elif args.mode == "echo":
            if args.data:
                echo_data(sock)
                await sock.closed
            else:
                await echo_streams(sock)
        else:
            await write_all(sock.writable.get_writer(), c.CHUNK, None)
    except Exception:  # the client leaving ends every handler with some error
        with contextlib.suppress(Exception):
            await sock.abort()


ECHOING: set[int] = set()
"""Connections (by id) whose datagrams the QUIC server echoes."""


def echo_datagrams(sock: Any) -> None:
    """QUIC server: echo every datagram of the socket's connection (once per connection)."""
    conn = sock.connection
    if id(conn) in ECHOING:
        return
    ECHOING.add(id(conn))

    async def echo() -> None:
        writer = conn.datagrams.writable.get_writer()
        with contextlib.suppress(Exception):  # the connection ends
            async for datagram in conn.datagrams.readable:
                writer.write(datagram)

    task = asyncio.ensure_future(echo())
    task.add_done_callback(lambda _t: ECHOING.discard(id(conn)))
    DATAGRAM_TASKS.add(task)
    task.add_done_callback(DATAGRAM_TASKS.discard)


DATAGRAM_TASKS: set[asyncio.Task[None]] = set()


async def answer(sock: Any) -> None:
    """QUIC server: read the request to its end, send that many bytes, then FIN."""
    request = b"".join([bytes(chunk) async for chunk in sock.readable])
    left = int(request or b"0")
    writer = sock.writable.get_writer()
    chunk, size = c.CHUNK, len(c.CHUNK)
    while left > 0:
        if (writer.desired_size or 0) <= 0:
            await writer.ready
        writer.write(chunk if left >= size else chunk[:left])
        left -= size
    await writer.close()


def listener_options(args: c.Args) -> dict[str, Any]:
    if args.mode.startswith("tls-"):
        return {"type": "tls", "cert": _tls.pem("chain"), "key": _tls.pem("key")}
    if args.mode.startswith("quic-"):
        # allow_half_open: the request's FIN must leave the answer's direction open
        return {"type": "quic", "alpn": [_tls.ALPN], "cert": _tls.pem("chain"),
                "key": _tls.pem("key"), "allow_half_open": True}  # fmt: skip
    return {}


async def serve(args: c.Args) -> None:
    if args.mode.startswith("udp-"):
        return await serve_udp(args)
    handlers: set[asyncio.Task[None]] = set()
    opts = listener_options(args)
    async with unisock.SocketListener(local=("127.0.0.1", 0), no_delay=True, **opts) as listener:
        await listener.ready
        c.announce_port(listener.local.port)
        async for event in listener:
            task = asyncio.create_task(handle(args, event.socket))
            handlers.add(task)
            task.add_done_callback(handlers.discard)


async def serve_udp(args: c.Args) -> None:
    """A bound UDP socket counting (and, for udp-echo, echoing) datagrams until SIGTERM."""
    loop = asyncio.get_running_loop()
    sock = unisock.Socket(type="udp", local=("127.0.0.1", 0))
    info = await sock.ready
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    counts = [0, 0]

    async def receive() -> None:
        writer = sock.writable.get_writer() if args.mode == "udp-echo" else None
        async for datagram in sock.readable:
            counts[0] += 1
            counts[1] += len(datagram.data)
            if writer is not None:
                writer.write(unisock.Datagram(datagram.data, datagram.remote))

    def receive_data() -> None:
        """``--data``: a sync ``"data"`` listener; each buffer is a ``Datagram``, written
        back as it is (API.md's fast echo path)."""
        write = sock.writable.get_writer().write if args.mode == "udp-echo" else None

        def on_data(event: Any) -> None:
            for datagram in event.buffers:
                counts[0] += 1
                counts[1] += len(datagram.data)
                if write is not None:
                    write(datagram)

        sock.add_event_listener("data", on_data)

    if args.data:
        receive_data()
        task = asyncio.create_task(stop.wait())
    else:
        task = asyncio.create_task(receive())
    cpu = time.process_time()
    print(f"READY {info.local.port}", flush=True)
    await stop.wait()
    cpu = time.process_time() - cpu
    task.cancel()
    sys.stdout.write(f"received {counts[0]} {counts[1]} {cpu:.6f}\n")
    sys.stdout.flush()
    os._exit(0)


async def ping_streams(sock: Any, meter: c.Meter) -> None:
    writer = sock.writable.get_writer()
    reader = sock.readable.get_reader()
    msg, size = c.MSG, len(c.MSG)
    while True:
        writer.write(msg)
        got = 0
        while got < size:
            result = await reader.read()
            if result.done:
                c.fail("unisock: the server closed the connection")
            got += len(result.value)
        meter.count += 1


SEND_BATCH = 64
"""As benchmarks/udp_bench.py's senders: datagrams between two yields to the loop."""


async def udp_send(args: c.Args) -> None:
    """Connected UDP socket, ``writer.write(datagram)`` as fast as the loop goes."""
    sock = unisock.Socket(type="udp", remote=("127.0.0.1", args.port))
    await sock.ready
    write = sock.writable.get_writer().write
    payload = c.MSG
    sent = 0
    cpu0 = time.process_time()
    deadline = time.monotonic() + args.duration
    while time.monotonic() < deadline:
        for _ in range(SEND_BATCH):
            write(payload)
        sent += SEND_BATCH
        await asyncio.sleep(0)
    cpu = time.process_time() - cpu0
    sent = sock.stats.packets_sent  # a write the kernel refused (EAGAIN) failed: not sent
    sys.stdout.write(f"sent {sent} {cpu:.6f}\n")
    sys.stdout.flush()
    os._exit(0)


def ping_data(sock: Any, meter: c.Meter) -> None:
    writer = sock.writable.get_writer()
    write, msg, size = writer.write, c.MSG, len(c.MSG)
    got = 0

    def on_data(event: Any) -> None:
        nonlocal got
        for buffer in event.buffers:
            got += len(buffer)
        if got >= size:
            got -= size
            meter.count += 1
            write(msg)

    sock.add_event_listener("data", on_data)
    write(msg)


async def count(sock: Any, meter: c.Meter) -> None:
    async for chunk in sock.readable:
        meter.count += len(chunk)


async def connect(port: int) -> Any:
    sock = unisock.Socket(remote=("127.0.0.1", port), no_delay=True)
    await sock.ready
    return sock


async def tls_download(args: c.Args, meter: c.Meter) -> None:
    sock = unisock.Socket(type="tls", remote=(_tls.HOST, args.port), ca=_tls.pem("ca"))
    await count(sock, meter)
    c.fail("unisock: the server closed the connection")


async def tls_handshakes(args: c.Args, meter: c.Meter) -> None:
    ca, remote = _tls.pem("ca"), (_tls.HOST, args.port)
    while True:
        sock = unisock.Socket(type="tls", remote=remote, ca=ca, allow_pooling=False, no_delay=True)
        await sock.ready
        await sock.close()
        meter.count += 1


QUIC_REQUEST = 4 << 20
"""Bytes per bulk request: bounded, so a server without backpressure stays bounded too."""


async def quic_requests(args: c.Args, meter: c.Meter, size: int, bulk: bool) -> None:
    """Request ``size`` bytes on a new stream of the pooled connection, over and over."""
    opts = {"type": "quic", "alpn": [_tls.ALPN], "ca": _tls.pem("ca"), "servername": "localhost"}
    remote, body = (_tls.HOST, args.port), b"%d" % size
    while True:
        sock = unisock.Socket(remote=remote, body=body, **opts)
        got = 0
        async for chunk in sock.readable:
            got += len(chunk)
            if bulk:
                meter.count += len(chunk)
        if got != size:
            c.fail(f"unisock: a QUIC answer had {got} bytes, not {size}")
        if not bulk:
            meter.count += 1


DATAGRAM = b"d" * 1000
DATAGRAM_WINDOW = 64
"""Datagrams in flight (as peers/_quic_raw.py); a window lost is written off after 50 ms."""


async def quic_datagrams(args: c.Args, meter: c.Meter) -> None:
    """Keep a window of datagrams in flight on a pooled connection, count the echoes."""
    opts = {"type": "quic", "alpn": [_tls.ALPN], "ca": _tls.pem("ca"), "servername": "localhost"}
    sock = unisock.Socket(remote=(_tls.HOST, args.port), body=b"0", **opts)
    await sock.ready
    datagrams = sock.connection.datagrams
    writer = datagrams.writable.get_writer()
    state = {"in_flight": 0, "last": time.monotonic()}

    def top_up() -> None:
        while state["in_flight"] < DATAGRAM_WINDOW:
            writer.write(DATAGRAM)
            state["in_flight"] += 1

    async def stalls() -> None:
        while True:
            await asyncio.sleep(0.05)
            if time.monotonic() - state["last"] > 0.05:
                state["in_flight"] = 0
                top_up()

    watchdog = asyncio.ensure_future(stalls())
    try:
        top_up()
        async for _ in datagrams.readable:
            meter.count += 1
            state["in_flight"] -= 1
            state["last"] = time.monotonic()
            top_up()
    finally:
        watchdog.cancel()


def client_tasks(args: c.Args, meter: c.Meter) -> list[Any]:
    """The coroutines of a TLS or QUIC client mode."""
    if args.mode == "quic-datagrams":
        return [quic_datagrams(args, meter)]
    if args.mode == "tls-download":
        return [tls_download(args, meter)]
    if args.mode == "tls-handshakes":
        return [tls_handshakes(args, meter)]
    if args.mode == "quic-opens":
        return [quic_requests(args, meter, 1, False)]
    streams = 8 if args.mode == "quic-bulk8" else 1
    return [quic_requests(args, meter, QUIC_REQUEST, True) for _ in range(streams)]


async def client(args: c.Args) -> None:
    meter = c.Meter()
    tasks: list[asyncio.Task[None]] = []
    if args.mode == "udp-send":
        await udp_send(args)
    if args.mode.startswith(("tls-", "quic-")):
        tasks = [asyncio.create_task(coro) for coro in client_tasks(args, meter)]
    elif args.mode == "pingpong":
        socks = [await connect(args.port) for _ in range(args.conns)]
        for sock in socks:
            if args.data:
                ping_data(sock, meter)
            else:
                tasks.append(asyncio.create_task(ping_streams(sock, meter)))
    else:
        sock = await connect(args.port)
        if args.mode == "upload":
            tasks.append(asyncio.create_task(write_all(sock.writable.get_writer(), c.CHUNK, meter)))
        else:
            tasks.append(asyncio.create_task(count(sock, meter)))
    for task in tasks:  # a failing side ends the run with its reason, not a silent zero
        task.add_done_callback(lambda t: t.cancelled() or c.fail(f"unisock: {t.exception()!r}"))
    await c.measure_asyncio(meter, args)


def check(args: c.Args) -> None:
    """Fail with one line when the API this peer needs is not there yet."""
    missing = [name for name in ("Socket", "SocketListener") if not hasattr(unisock, name)]
    if missing:
        c.fail(f"unisock.{', unisock.'.join(missing)} not available yet")
    if args.loop == "uvloop":
        import uvloop  # noqa: F401
    if args.role == "check" and (args.mode or "").startswith(("tls", "quic")):
        _tls.cert_dir()


def main() -> None:
    args = c.parse()
    check(args)
    if args.role == "check":
        return
    c.run_asyncio(lambda: client(args) if args.role == "client" else serve(args), args.loop)


if __name__ == "__main__":
    main()
