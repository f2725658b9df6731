"""Peer: unisock on trio (``trio.run``), through its public API only: the same workloads
as unisock_peer.py's TCP and TLS ones (sink, source, echo as ``pipe_to``, upload,
download, ping-pong; tls-source, tls-download, tls-hs, tls-handshakes), for issue 13's
rows next to trio's own ``SocketStream`` and ``SSLStream``; UDP (``server
udp-sink|udp-echo``, udp_bench.py's receiver protocol) next to a raw ``trio.socket``
loop (trio_peer.py); and QUIC (``server quic-server``, ``client quic-bulk1|quic-bulk8|
quic-opens|quic-datagrams``, unisock_peer.py's QUIC protocol; trio has no QUIC of its
own)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import Any

import _common as c
import _tls
import trio

# The client loops use unisock's API only: the asyncio peer's serve trio as they are.
from unisock_peer import (
    DATAGRAM,
    DATAGRAM_WINDOW,
    QUIC_REQUEST,
    answer,
    count,
    listener_options,
    quic_requests,
    tls_handshakes,
)
from unisock_peer import ping_streams as ping

import unisock


async def write_all(sock: Any, meter: c.Meter | None) -> None:
    writer = sock.writable.get_writer()
    chunk, size = c.CHUNK, len(c.CHUNK)
    while True:
        if (writer.desired_size or 0) <= 0:
            await writer.ready
        writer.write(chunk)
        if meter is not None:
            meter.count += size
        await trio.lowlevel.checkpoint()  # the window timer can fire


async def echo_datagrams(conn: Any) -> None:
    """QUIC server: echo every datagram of a connection until it ends."""
    writer = conn.datagrams.writable.get_writer()
    with contextlib.suppress(Exception):  # the connection ends
        async for datagram in conn.datagrams.readable:
            writer.write(datagram)


async def quic_datagrams(args: c.Args, meter: c.Meter) -> None:
    """Keep a window of datagrams in flight on a pooled connection, count the echoes
    (unisock_peer.py's loop, with trio's sleep for the 50 ms write-off)."""
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
            await trio.sleep(0.05)
            if time.monotonic() - state["last"] > 0.05:
                state["in_flight"] = 0
                top_up()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stalls)
        top_up()
        async for _ in datagrams.readable:
            meter.count += 1
            state["in_flight"] -= 1
            state["last"] = time.monotonic()
            top_up()


async def handle(args: c.Args, sock: Any) -> None:
    try:
        if args.mode == "quic-server":
            await answer(sock)
        elif args.mode == "tls-hs":
            async for _ in sock.readable:
                pass
            await sock.close()
        elif args.mode == "sink":
            async for _ in sock.readable:
                pass
        elif args.mode == "echo":
            await sock.readable.pipe_to(sock.writable)
        else:
            await write_all(sock, None)
    except Exception:  # the client leaving ends every handler with some error
        with contextlib.suppress(Exception):
            await sock.abort()


async def serve_udp(args: c.Args) -> None:
    """A bound UDP socket counting (and, for udp-echo, echoing) datagrams until SIGTERM."""
    sock = unisock.Socket(type="udp", local=("127.0.0.1", 0))
    info = await sock.ready
    counts = [0, 0]

    async def receive() -> None:
        writer = sock.writable.get_writer() if args.mode == "udp-echo" else None
        async for datagram in sock.readable:
            counts[0] += 1
            counts[1] += len(datagram.data)
            if writer is not None:
                writer.write(unisock.Datagram(datagram.data, datagram.remote))

    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            cpu = time.process_time()
            print(f"READY {info.local.port}", flush=True)
            async for _ in signals:
                break
            cpu = time.process_time() - cpu
            sys.stdout.write(f"received {counts[0]} {counts[1]} {cpu:.6f}\n")
            sys.stdout.flush()
            os._exit(0)


async def serve(args: c.Args) -> None:
    if args.mode.startswith("udp-"):
        return await serve_udp(args)
    echoing: set[int] = set()  # connections whose datagrams are echoed (QUIC)
    async with trio.open_nursery() as nursery:
        opts = listener_options(args)
        listener = unisock.SocketListener(local="127.0.0.1:0", no_delay=True, **opts)
        local = await listener.ready
        c.announce_port(local.port)
        async for event in listener:
            conn = event.socket.connection
            if conn is not None and id(conn) not in echoing:
                echoing.add(id(conn))
                nursery.start_soon(echo_datagrams, conn)
            nursery.start_soon(handle, args, event.socket)


async def client(args: c.Args) -> None:
    meter = c.Meter()
    remote = f"127.0.0.1:{args.port}"
    async with trio.open_nursery() as nursery:
        if args.mode == "tls-download":
            sock = unisock.Socket(type="tls", remote=(_tls.HOST, args.port), ca=_tls.pem("ca"))
            nursery.start_soon(count, sock, meter)
        elif args.mode == "tls-handshakes":
            nursery.start_soon(tls_handshakes, args, meter)
        elif args.mode == "quic-datagrams":
            nursery.start_soon(quic_datagrams, args, meter)
        elif args.mode.startswith("quic-"):
            size, bulk = (1, False) if args.mode == "quic-opens" else (QUIC_REQUEST, True)
            for _ in range(8 if args.mode == "quic-bulk8" else 1):
                nursery.start_soon(quic_requests, args, meter, size, bulk)
        elif args.mode == "pingpong":
            socks = [await unisock.connect(remote=remote, no_delay=True) for _ in range(args.conns)]
            for sock in socks:
                nursery.start_soon(ping, sock, meter)
        else:
            sock = await unisock.connect(remote=remote, no_delay=True)
            nursery.start_soon(write_all if args.mode == "upload" else count, sock, meter)
        window = c.Window(meter)
        await trio.sleep(args.warmup)
        window.open()
        await trio.sleep(args.duration)
        window.close()


def main() -> None:
    args = c.parse()
    if args.role == "check":
        if (args.mode or "").startswith(("tls", "quic")):
            _tls.cert_dir()
        return
    trio.run(client if args.role == "client" else serve, args)


if __name__ == "__main__":
    main()
